// `primus launch -- train` with tensor parallelism on a real dataset (Debian's fortunes `art` file,
// tokenized here): TP2 and DP2 x TP2 with sequence parallelism reproduce the one-process loss curve
// of tiny GPT-2 and tiny Llama (GQA) within 1e-5 relative, every rank writing its log; and
// checkpoints written under TP2 resume under one process and the other way round.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

struct Cmd {
  int exit_code = -1;
  std::string output;
};

fs::path test_dir() {
  return fs::path(PRIMUS_BINARY_DIR) / "tests/dist/scratch" /
         (std::string("tp-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
}

Cmd shell(const std::string& cmd) {
  Cmd r;
  FILE* p = popen(("cd " + test_dir().string() +
                   " && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " + cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

const char* kCorpus = "/usr/share/games/fortunes/art";

class TrainTensorParallel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kCorpus)) GTEST_SKIP() << kCorpus << " missing (Debian package fortunes)";
    fs::path dir = test_dir();
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string exe = PRIMUS_EXE;
    Cmd tok = shell(exe + " data train-tokenizer --input " + kCorpus + " --vocab-size 400 --output tok.json");
    ASSERT_EQ(tok.exit_code, 0) << tok.output;
    Cmd prep = shell(exe + " data prepare --input " + kCorpus + " --tokenizer tok.json --output art "
                     "--doc-boundary blank-line --split 90,10,0 --progress off");
    ASSERT_EQ(prep.exit_code, 0) << prep.output;
    for (const char* preset : {"gpt2-tiny", "llama-tiny"}) {
      std::ofstream(dir / (std::string(preset) + ".yaml"))
          << "workspace: runs\nexp_name: x\nmodel: {preset: " << preset << "}\n"
          << "data: {train: art/train, valid: art/valid, tokenizer: tok.json}\n"
          << "train: {micro_batch_size: 2, global_batch_size: 8, seq_len: 32, steps: 10}\n"
          << "backend: {threads: 1}\nlogging: {every_steps: 1}\ncheckpoint: {every_steps: 0}\n";
    }
  }
  static std::vector<double> losses(const std::string& run) {
    std::vector<double> out;
    std::ifstream in(test_dir() / "runs" / run / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      auto rec = nlohmann::json::parse(line);
      if (rec.contains("loss")) out.push_back(rec.at("loss").get<double>());
    }
    return out;
  }
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
