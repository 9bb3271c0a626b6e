// The run directory: created with config.yaml, logs/ and checkpoints/; a second start over the same
// run is refused unless resuming (keeps everything) or forcing (starts over).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/run_dir.h"
#include "config_test_util.h"

namespace primus::config {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;

ExperimentConfig config_in(const ScratchDir& dir) {
  ExperimentConfig cfg;
  cfg.workspace = dir / "runs";
  cfg.exp_name = "exp";
  return cfg;
}

TEST(RunDir, CreatesTheLayout) {
  ScratchDir dir;
  RunDir run = prepare_run_dir(config_in(dir), "exp_name: exp\n", false, false, 0);
  EXPECT_EQ(run.root, dir / "runs/exp");
  EXPECT_TRUE(fs::is_directory(run.logs));
  EXPECT_TRUE(fs::is_directory(run.checkpoints));
  EXPECT_EQ(run.metrics, dir / "runs/exp/metrics.jsonl");
  EXPECT_EQ(testing::read_text(run.root + "/config.yaml"), "exp_name: exp\n");
  EXPECT_EQ(run_dir_log_file(run, 3), dir / "runs/exp/logs/rank3.log");
}

TEST(RunDir, RefusesAnExistingRunWithoutResumeOrForce) {
  ScratchDir dir;
  ExperimentConfig cfg = config_in(dir);
  prepare_run_dir(cfg, "first\n", false, false, 0);
  try {
    prepare_run_dir(cfg, "second\n", false, false, 0);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("already holds a run"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("--resume"), std::string::npos);
    EXPECT_NE(e.hint().find("--force"), std::string::npos);
  }
  EXPECT_EQ(testing::read_text(dir / "runs/exp/config.yaml"), "first\n");  // untouched
}

TEST(RunDir, ResumeKeepsCheckpointsAndMetrics) {
  ScratchDir dir;
  ExperimentConfig cfg = config_in(dir);
  RunDir run = prepare_run_dir(cfg, "first\n", false, false, 0);
  dir.write("runs/exp/checkpoints/step_10/model.safetensors", "weights");
  dir.write("runs/exp/metrics.jsonl", "{\"step\": 10}\n");
  prepare_run_dir(cfg, "second\n", true, false, 0);
  EXPECT_TRUE(fs::exists(run.checkpoints + "/step_10/model.safetensors"));
  EXPECT_EQ(testing::read_text(run.metrics), "{\"step\": 10}\n");
  EXPECT_EQ(testing::read_text(run.root + "/config.yaml"), "second\n");
}

TEST(RunDir, ForceStartsOver) {
  ScratchDir dir;
  ExperimentConfig cfg = config_in(dir);
  RunDir run = prepare_run_dir(cfg, "first\n", false, false, 0);
  dir.write("runs/exp/checkpoints/step_10/model.safetensors", "weights");
  dir.write("runs/exp/metrics.jsonl", "{}\n");
  dir.write("runs/exp/notes.txt", "the user's own file\n");
  prepare_run_dir(cfg, "second\n", false, true, 0);
  EXPECT_FALSE(fs::exists(run.checkpoints + "/step_10"));
  EXPECT_FALSE(fs::exists(run.metrics));
  EXPECT_TRUE(fs::exists(run.root + "/notes.txt"));
  EXPECT_EQ(testing::read_text(run.root + "/config.yaml"), "second\n");
}

TEST(RunDir, OtherRanksOnlyGetPathsAndTheirLogFolder) {
  ScratchDir dir;
  ExperimentConfig cfg = config_in(dir);
  prepare_run_dir(cfg, "first\n", false, false, 0);
  RunDir run = prepare_run_dir(cfg, "other\n", false, false, 1);  // no refusal, no write
  EXPECT_TRUE(fs::is_directory(run.logs));
  EXPECT_EQ(testing::read_text(run.root + "/config.yaml"), "first\n");
}

}  // namespace
}  // namespace primus::config
