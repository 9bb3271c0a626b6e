// `primus launch -- train` end to end on a real dataset (Debian's fortunes `art` file, tokenized
// here): data-parallel and ZeRO-1 runs over 2 ranks reproduce the one-process loss curve of tiny
// GPT-2 and tiny Llama within 1e-5 relative, rank 0 writes the checkpoint, every rank its log; a
// ZeRO-1 checkpoint resumes under one process and under 4 ranks with the loss continuing; a rank
// made to fail mid-run takes the job down naming itself; ZeRO-1 with tensor or pipeline parallelism
// reproduces the one-process losses and its checkpoint resumes under one process.
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

fs::path test_dir() { return primus::dist_test::scratch_dir("train-"); }
Cmd shell(const std::string& cmd) { return primus::dist_test::shell_in(test_dir(), cmd); }

class TrainLaunch : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kCorpus)) GTEST_SKIP() << kCorpus << " missing (Debian package fortunes)";
    ASSERT_NO_FATAL_FAILURE(primus::dist_test::prepare_tiny_runs(test_dir()));
  }
  static std::vector<double> losses(const std::string& run) { return primus::dist_test::run_losses(test_dir(), run); }
};

TEST_F(TrainLaunch, DataParallelReproducesOneProcess) {
  const std::string exe = PRIMUS_EXE;
  for (std::string preset : {"gpt2-tiny", "llama-tiny"}) {
    Cmd one = shell(exe + " train -c " + preset + ".yaml --set exp_name=" + preset + "-one");
    ASSERT_EQ(one.exit_code, 0) << one.output;
    Cmd two = shell(exe + " launch --nproc-per-node 2 --oversubscribe -- train -c " + preset +
                    ".yaml --set exp_name=" + preset + "-two");
    ASSERT_EQ(two.exit_code, 0) << two.output;
    Cmd zero = shell(exe + " launch --nproc-per-node 2 --oversubscribe -- train -c " + preset +
                     ".yaml --set exp_name=" + preset + "-zero --set parallel.zero=1");
    ASSERT_EQ(zero.exit_code, 0) << zero.output;
    auto a = losses(preset + "-one"), b = losses(preset + "-two"), z = losses(preset + "-zero");
    ASSERT_EQ(a.size(), 10u) << one.output;
    ASSERT_EQ(b.size(), 10u) << two.output;
    ASSERT_EQ(z.size(), 10u) << zero.output;
    EXPECT_LT(a.back(), a.front()) << preset << " did not learn";
    for (size_t s = 0; s < a.size(); ++s) {
      EXPECT_NEAR(b[s], a[s], 1e-5 * std::abs(a[s])) << preset << " DP step " << s + 1;
      EXPECT_NEAR(z[s], a[s], 1e-5 * std::abs(a[s])) << preset << " ZeRO-1 step " << s + 1;
    }
    fs::path run = test_dir() / "runs" / (preset + "-two");
    EXPECT_TRUE(fs::exists(run / "logs/rank0.log"));
    EXPECT_TRUE(fs::exists(run / "logs/rank1.log"));
    EXPECT_TRUE(fs::exists(run / "checkpoints/step_00000010")) << two.output;
  }
}

// Steps 1-5 under ZeRO-1 on 2 ranks, then steps 6-10 resumed under one process and under ZeRO-1
// on 4 ranks: the optimizer state is gathered into a layout-free checkpoint and sharded again.
TEST_F(TrainLaunch, ZeroCheckpointResumesUnderOtherLayouts) {
  const std::string exe = PRIMUS_EXE, sched = " --set schedule.lr_decay_steps=10";
  Cmd ref = shell(exe + " train -c gpt2-tiny.yaml --set exp_name=ref" + sched);
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  for (const std::string& second : {std::string(" train"), std::string(" launch --nproc-per-node 4 --oversubscribe -- train")}) {
    const std::string name = second == " train" ? "to-one" : "to-four";
    Cmd first = shell(exe + " launch --nproc-per-node 2 --oversubscribe -- train -c gpt2-tiny.yaml --set exp_name=" +
                      name + " --set parallel.zero=1 --set train.steps=5" + sched);
    ASSERT_EQ(first.exit_code, 0) << first.output;
    Cmd resumed = shell(exe + second + " -c gpt2-tiny.yaml --resume --set exp_name=" + name +
                        " --set parallel.zero=1" + sched);
    ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
    EXPECT_NE(resumed.output.find("resumed from"), std::string::npos) << resumed.output;
    auto a = losses("ref"), b = losses(name);
    ASSERT_EQ(a.size(), 10u);
    ASSERT_EQ(b.size(), 10u) << resumed.output;
    for (size_t s = 0; s < a.size(); ++s) EXPECT_NEAR(b[s], a[s], 1e-5 * std::abs(a[s])) << name << " step " << s + 1;
  }
}

TEST_F(TrainLaunch, FailingRankStopsEveryRankAndIsNamed) {
  Cmd r = shell("PRIMUS_FAIL_AT=1:3 timeout 60 " + std::string(PRIMUS_EXE) +
                " launch --nproc-per-node 2 --oversubscribe -- train -c gpt2-tiny.yaml --set exp_name=fail");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.exit_code, 124) << "still running after 60 s:\n" << r.output;
  EXPECT_NE(r.output.find("error: rank 1 of 2: injected failure at step 3"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("done: step 10"), std::string::npos) << r.output;
}

// ZeRO-1 shards each model shard's optimizer state over its data group: DP2 x TP2 + SP and DP2 x PP2
// (tied embeddings: the last stage's copy) with parallel.zero = 1 reproduce the one-process losses,
// and a ZeRO-1 x PP2 checkpoint of step 5 resumes under one process with the loss continuing.
TEST_F(TrainLaunch, ZeroWithTensorAndPipelineParallel) {
  const std::string exe = PRIMUS_EXE, sched = " --set schedule.lr_decay_steps=10";
  const std::string four = " launch --nproc-per-node 4 --oversubscribe -- train -c gpt2-tiny.yaml";
  Cmd ref = shell(exe + " train -c gpt2-tiny.yaml --set exp_name=ref" + sched);
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  const auto a = losses("ref");
  ASSERT_EQ(a.size(), 10u) << ref.output;
  const std::string tp = " --set parallel.tensor=2 --set parallel.sequence_parallel=true";
  const std::string pp = " --set parallel.pipeline=2";
  for (const auto& [name, sets] : {std::pair{std::string("zero-dp2tp2sp"), tp}, std::pair{std::string("zero-dp2pp2"), pp}}) {
    Cmd r = shell(exe + four + " --set exp_name=" + name + " --set parallel.zero=1" + sched + sets);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto b = losses(name);
    ASSERT_EQ(b.size(), 10u) << r.output;
    for (size_t s = 0; s < a.size(); ++s) EXPECT_NEAR(b[s], a[s], 1e-5 * std::abs(a[s])) << name << " step " << s + 1;
  }
  Cmd first = shell(exe + four + " --set exp_name=zero-pp2-to-one --set parallel.zero=1 --set train.steps=5" + sched + pp);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  Cmd resumed = shell(exe + " train -c gpt2-tiny.yaml --resume --set exp_name=zero-pp2-to-one" + sched);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed from"), std::string::npos) << resumed.output;
  auto c = losses("zero-pp2-to-one");
  ASSERT_EQ(c.size(), 10u) << resumed.output;
  for (size_t s = 0; s < a.size(); ++s) EXPECT_NEAR(c[s], a[s], 1e-5 * std::abs(a[s])) << "ZeRO-1 x PP2 -> one, step " << s + 1;
}

}  // namespace
