// `primus launch -- train` with pipeline parallelism on a real dataset (Debian's fortunes `art`
// file, tokenized here), 4-layer tiny GPT-2 (tied embeddings) and tiny Llama (GQA), 4 micro-batches
// per step: PP2 under 1F1B, PP2 interleaved (virtual_pipeline 2), TP2 x PP2 with sequence
// parallelism and DP2 x PP2 reproduce the one-process loss curve within 1e-5 relative; and checkpoints reshard:
// written under TP2 x PP2 (or PP2), they resume under DP4 and under one process, and one process's
// resumes under TP2 x PP2 interleaved, with the loss continuing the one-process curve.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "train_run_util.h"

namespace {

namespace fs = std::filesystem;

using primus::dist_test::Cmd;
using primus::dist_test::kCorpus;

fs::path test_dir() { return primus::dist_test::scratch_dir("pp-"); }
Cmd shell(const std::string& cmd) { return primus::dist_test::shell_in(test_dir(), cmd); }

// `primus train` on n processes (n = 1: no launcher).
std::string train_cmd(int n) {
  const std::string exe = PRIMUS_EXE;
  return n == 1 ? exe + " train" : exe + " launch --nproc-per-node " + std::to_string(n) + " --oversubscribe -- train";
}

class TrainPipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kCorpus)) GTEST_SKIP() << kCorpus << " missing (Debian package fortunes)";
    ASSERT_NO_FATAL_FAILURE(primus::dist_test::prepare_tiny_runs(test_dir(), "schedule: {lr_decay_steps: 10}\n"));
  }
  // Runs `primus train` on n processes; returns false (with the output in *out) when it failed.
  static bool run(int n, const std::string& preset, const std::string& name, const std::string& sets, Cmd* out) {
    *out = shell(train_cmd(n) + " -c " + preset + ".yaml --set exp_name=" + name + " --set model.num_layers=4" + sets);
    return out->exit_code == 0;
  }
  static std::vector<double> losses(const std::string& run) { return primus::dist_test::run_losses(test_dir(), run); }
  static void expect_same(const std::vector<double>& ref, const std::vector<double>& got, const std::string& what) {
    ASSERT_EQ(got.size(), ref.size()) << what;
    for (size_t s = 0; s < ref.size(); ++s) EXPECT_NEAR(got[s], ref[s], 1e-5 * std::abs(ref[s])) << what << " step " << s + 1;
  }
};

TEST_F(TrainPipeline, ReproducesOneProcess) {
  const std::string pp2 = " --set parallel.pipeline=2";
  for (std::string preset : {"gpt2-tiny", "llama-tiny"}) {
    Cmd c;
    ASSERT_TRUE(run(1, preset, preset + "-one", "", &c)) << c.output;
    const auto ref = losses(preset + "-one");
    ASSERT_EQ(ref.size(), 10u) << c.output;
    EXPECT_LT(ref.back(), ref.front()) << preset << " did not learn";
    ASSERT_TRUE(run(2, preset, preset + "-pp2", pp2, &c)) << c.output;
    expect_same(ref, losses(preset + "-pp2"), preset + " PP2 1F1B");
    ASSERT_TRUE(run(2, preset, preset + "-pp2v2", pp2 + " --set parallel.virtual_pipeline=2", &c)) << c.output;
    expect_same(ref, losses(preset + "-pp2v2"), preset + " PP2 interleaved");
    ASSERT_TRUE(run(4, preset, preset + "-tp2pp2", pp2 + " --set parallel.tensor=2 --set parallel.sequence_parallel=true",
                    &c)) << c.output;
    expect_same(ref, losses(preset + "-tp2pp2"), preset + " TP2 x PP2 + SP");
    ASSERT_TRUE(run(4, preset, preset + "-dp2pp2", pp2, &c)) << c.output;   // 2 micro-batches per replica
    expect_same(ref, losses(preset + "-dp2pp2"), preset + " DP2 x PP2");
  }
}

// Steps 1-5 under one layout, 6-10 under another, against 10 steps in one process.
TEST_F(TrainPipeline, CheckpointsReshardAcrossLayouts) {
  const std::string tp2pp2 = " --set parallel.tensor=2 --set parallel.pipeline=2 --set parallel.sequence_parallel=true";
  struct Leg {
    std::string name;
    int first_n;
    std::string first_set;
    int second_n;
    std::string second_set;
  };
  for (std::string preset : {"gpt2-tiny", "llama-tiny"}) {
    Cmd c;
    ASSERT_TRUE(run(1, preset, preset + "-ref", "", &c)) << c.output;
    const auto ref = losses(preset + "-ref");
    for (const Leg& leg : {Leg{"tp2pp2-to-dp4", 4, tp2pp2, 4, ""}, Leg{"tp2pp2-to-one", 4, tp2pp2, 1, ""},
                           Leg{"pp2-to-one", 2, " --set parallel.pipeline=2", 1, ""},
                           Leg{"one-to-tp2pp2v2", 1, "", 4, tp2pp2 + " --set parallel.virtual_pipeline=2"}}) {
      const std::string name = preset + "-" + leg.name;
      ASSERT_TRUE(run(leg.first_n, preset, name, " --set train.steps=5" + leg.first_set, &c)) << c.output;
      Cmd resumed = shell(train_cmd(leg.second_n) + " -c " + preset + ".yaml --resume --set exp_name=" + name +
                          " --set model.num_layers=4" + leg.second_set);
      ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
      EXPECT_NE(resumed.output.find("resumed from"), std::string::npos) << resumed.output;
      expect_same(ref, losses(name), name);
    }
  }
}

}  // namespace
