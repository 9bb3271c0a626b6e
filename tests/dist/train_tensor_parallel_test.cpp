// `primus launch -- train` with tensor parallelism on a real dataset (Debian's fortunes `art` file,
// tokenized here): TP2 and DP2 x TP2 with sequence parallelism reproduce the one-process loss curve
// of tiny GPT-2 and tiny Llama (GQA) within 1e-5 relative, every rank writing its log; and
// checkpoints written under TP2 resume under one process and the other way round.
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

fs::path test_dir() { return primus::dist_test::scratch_dir("tp-"); }
Cmd shell(const std::string& cmd) { return primus::dist_test::shell_in(test_dir(), cmd); }

class TrainTensorParallel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kCorpus)) GTEST_SKIP() << kCorpus << " missing (Debian package fortunes)";
    ASSERT_NO_FATAL_FAILURE(primus::dist_test::prepare_tiny_runs(test_dir()));
  }
  static std::vector<double> losses(const std::string& run) { return primus::dist_test::run_losses(test_dir(), run); }
};

TEST_F(TrainTensorParallel, ReproducesOneProcess) {
  const std::string exe = PRIMUS_EXE;
  for (std::string preset : {"gpt2-tiny", "llama-tiny"}) {
    Cmd one = shell(exe + " train -c " + preset + ".yaml --set exp_name=" + preset + "-one");
    ASSERT_EQ(one.exit_code, 0) << one.output;
    Cmd tp2 = shell(exe + " launch --nproc-per-node 2 --oversubscribe -- train -c " + preset +
                    ".yaml --set exp_name=" + preset + "-tp2 --set parallel.tensor=2");
    ASSERT_EQ(tp2.exit_code, 0) << tp2.output;
    Cmd dp2tp2 = shell(exe + " launch --nproc-per-node 4 --oversubscribe -- train -c " + preset +
                       ".yaml --set exp_name=" + preset + "-dp2tp2 --set parallel.tensor=2"
                       " --set parallel.sequence_parallel=true");
    ASSERT_EQ(dp2tp2.exit_code, 0) << dp2tp2.output;
    auto a = losses(preset + "-one"), b = losses(preset + "-tp2"), c = losses(preset + "-dp2tp2");
    ASSERT_EQ(a.size(), 10u) << one.output;
    ASSERT_EQ(b.size(), 10u) << tp2.output;
    ASSERT_EQ(c.size(), 10u) << dp2tp2.output;
    EXPECT_LT(a.back(), a.front()) << preset << " did not learn";
    for (size_t s = 0; s < a.size(); ++s) {
      EXPECT_NEAR(b[s], a[s], 1e-5 * std::abs(a[s])) << preset << " TP2 step " << s + 1;
      EXPECT_NEAR(c[s], a[s], 1e-5 * std::abs(a[s])) << preset << " DP2 x TP2 + SP step " << s + 1;
    }
    fs::path run = test_dir() / "runs" / (preset + "-dp2tp2");
    for (int r = 0; r < 4; ++r) EXPECT_TRUE(fs::exists(run / "logs" / ("rank" + std::to_string(r) + ".log"))) << r;
  }
}

// A checkpoint holds the full model whatever the layout: steps 1-5 under TP2 then 6-10 under one
// process, and steps 1-5 under one process then 6-10 under TP2 with sequence parallelism, continue
// the one-process loss curve (Llama: split QKV rows, gate_up halves and vocabulary rows).
TEST_F(TrainTensorParallel, CheckpointsReshardBetweenTensorParallelAndOneProcess) {
  const std::string exe = PRIMUS_EXE, sched = " --set schedule.lr_decay_steps=10";
  const std::string one = " train", tp2 = " launch --nproc-per-node 2 --oversubscribe -- train";
  const std::string tp_set = " --set parallel.tensor=2 --set parallel.sequence_parallel=true";
  Cmd ref = shell(exe + " train -c llama-tiny.yaml --set exp_name=ref" + sched);
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  struct Leg {
    std::string name, first, first_set, second, second_set;
  };
  for (const Leg& leg : {Leg{"tp-to-one", tp2, tp_set, one, ""}, Leg{"one-to-tp", one, "", tp2, tp_set}}) {
    Cmd first = shell(exe + leg.first + " -c llama-tiny.yaml --set exp_name=" + leg.name + " --set train.steps=5" +
                      sched + leg.first_set);
    ASSERT_EQ(first.exit_code, 0) << first.output;
    Cmd resumed = shell(exe + leg.second + " -c llama-tiny.yaml --resume --set exp_name=" + leg.name + sched +
                        leg.second_set);
    ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
    EXPECT_NE(resumed.output.find("resumed from"), std::string::npos) << resumed.output;
    auto a = losses("ref"), b = losses(leg.name);
    ASSERT_EQ(a.size(), 10u);
    ASSERT_EQ(b.size(), 10u) << resumed.output;
    for (size_t s = 0; s < a.size(); ++s) EXPECT_NEAR(b[s], a[s], 1e-5 * std::abs(a[s])) << leg.name << " step " << s + 1;
  }
}

}  // namespace
