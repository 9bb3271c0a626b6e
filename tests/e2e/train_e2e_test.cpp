// `primus train` and `primus generate` end to end: the run directory, metrics.jsonl and
// checkpoints a transformers folder needs; refusing an existing run; a missing data path;
// --resume; a clean stop on SIGINT; deterministic greedy generation (with and without the cache);
// and, on a slice of the bundled corpus, validation loss below the unigram entropy.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <thread>

#include <nlohmann/json.hpp>

#include "e2e_util.h"

namespace fs = std::filesystem;

namespace primus::e2e {
namespace {

// A corpus slice from Debian's fortunes package (installed by scripts/setup.sh).
constexpr const char* kCorpus = "/usr/share/games/fortunes/computers";

class TrainE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fresh_dir("train").string();
    if (!fs::exists(kCorpus)) return;
    auto r = primus(fmt::format("data train-tokenizer --input {} --vocab-size 512 --output tok.json", kCorpus), dir_);
    ASSERT_EQ(r.rc, 0) << r.out;
    r = primus(fmt::format("data prepare --input {} --tokenizer tok.json --output ds --split 90,10,0 "
                           "--doc-boundary blank-line --progress off", kCorpus), dir_);
    if (r.rc != 0)   // older fortune files separate entries by lines only
      r = primus(fmt::format("data prepare --input {} --tokenizer tok.json --output ds --split 90,10,0 "
                             "--doc-boundary line --progress off", kCorpus), dir_);
    ASSERT_EQ(r.rc, 0) << r.out;
    // Without EOS between the (short) documents, greedy decoding does not stop at once.
    r = primus(fmt::format("data prepare --input {} --tokenizer tok.json --output dsg --split 90,10,0 "
                           "--doc-boundary line --no-eos --progress off", kCorpus), dir_);
    ASSERT_EQ(r.rc, 0) << r.out;
    corpus_ready_ = true;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // A tiny experiment in the suite folder; `logging` replaces the logging section.
  static std::string write_config(const std::string& name, const std::string& data,
                                  const std::string& logging = "{ every_steps: 2, progress: 'off' }") {
    const std::string path = (fs::path(dir_) / (name + ".yaml")).string();
    write_text(path, fmt::format(
        "workspace: runs\nexp_name: {}\n"
        "model: {{ arch: gpt2, num_layers: 2, hidden_size: 64, num_attention_heads: 4, vocab_size: 512,\n"
        "         make_vocab_size_divisible_by: 64, max_position_embeddings: 64 }}\n"
        "data: {}\n"
        "train: {{ micro_batch_size: 4, global_batch_size: 8, seq_len: 32, steps: 8, seed: 3 }}\n"
        "optim: {{ lr: 3.0e-3 }}\n"
        "schedule: {{ kind: cosine, lr_warmup_steps: 2 }}\n"
        "backend: {{ threads: 1 }}\n"
        "checkpoint: {{ every_steps: 4, keep_last: 2 }}\n"
        "logging: {}\n",
        name, data, logging));
    return path;
  }
  static constexpr const char* kMock = "{ mock: true }";
  static constexpr const char* kReal = "{ train: ds/train, valid: ds/valid, tokenizer: tok.json }";

  static std::string dir_;
  static bool corpus_ready_;
};
std::string TrainE2E::dir_;
bool TrainE2E::corpus_ready_ = false;

TEST_F(TrainE2E, TrainCreatesTheRunDirectory) {
  write_config("basic", kMock);
  auto r = primus("train -c basic.yaml", dir_);
  ASSERT_EQ(r.rc, 0) << r.out;
  const fs::path run = fs::path(dir_) / "runs/basic";
  EXPECT_TRUE(fs::exists(run / "config.yaml"));
  EXPECT_TRUE(fs::exists(run / "logs/rank0.log"));
  // metrics.jsonl: one record per logged step, each with the throughput fields.
  std::istringstream metrics(read_text(run / "metrics.jsonl"));
  std::string line;
  int records = 0;
  while (std::getline(metrics, line)) {
    auto j = nlohmann::json::parse(line);
    if (!j.contains("loss")) continue;
    ++records;
    for (const char* k : {"step", "lr", "grad_norm", "tokens_per_s", "tflops", "mfu", "mem_bytes"})
      EXPECT_TRUE(j.contains(k)) << k << " in " << line;
    EXPECT_GT(j["tokens_per_s"].get<double>(), 0);
  }
  EXPECT_EQ(records, 4);
  // Checkpoints at 4 and 8, `latest` pointing at 8, each a folder transformers can load.
  EXPECT_TRUE(fs::exists(run / "checkpoints/step_00000004"));
  const fs::path latest = run / "checkpoints/latest";
  ASSERT_TRUE(fs::is_symlink(latest));
  EXPECT_EQ(fs::read_symlink(latest), "step_00000008");
  for (const char* f : {"model.safetensors", "config.json", "optimizer.safetensors", "trainer_state.json"})
    EXPECT_TRUE(fs::exists(latest / f)) << f;
  auto cfg = nlohmann::json::parse(read_text(latest / "config.json"));
  EXPECT_EQ(cfg["architectures"][0], "GPT2LMHeadModel");
  EXPECT_EQ(cfg["n_layer"], 2);
  EXPECT_NE(r.out.find("MFU"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tok/s"), std::string::npos) << r.out;
}

TEST_F(TrainE2E, AnExistingRunIsRefusedAndUntouched) {
  write_config("twice", kMock);
  ASSERT_EQ(primus("train -c twice.yaml", dir_).rc, 0);
  const fs::path weights = fs::path(dir_) / "runs/twice/checkpoints/latest/model.safetensors";
  const std::string before = read_text(weights);
  auto r = primus("train -c twice.yaml --set optim.lr=1e-2", dir_);
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("already"), std::string::npos) << r.out;
  EXPECT_EQ(read_text(weights), before);
  // --resume with more steps continues from step 8.
  r = primus("train -c twice.yaml --resume --set train.steps=10", dir_);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("resumed from"), std::string::npos) << r.out;
  EXPECT_EQ(fs::read_symlink(fs::path(dir_) / "runs/twice/checkpoints/latest"), "step_00000010");
}

TEST_F(TrainE2E, MissingDataPathIsAClearErrorAndCreatesNothing) {
  write_config("nodata", "{ train: no/such/dataset, valid: no/such/valid }");
  auto r = primus("train -c nodata.yaml", dir_);
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.rc, 134) << "must not abort: " << r.out;
  EXPECT_NE(r.out.find("no/such/dataset"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "runs/nodata"));
}

TEST_F(TrainE2E, InitFromADifferentShapeFailsBeforeWritingAnything) {
  write_config("source", kMock);
  ASSERT_EQ(primus("train -c source.yaml", dir_).rc, 0);
  write_config("wider", kMock);
  auto r = primus("train -c wider.yaml --set model.hidden_size=128 --init-from runs/source/checkpoints/latest", dir_);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("different model shape"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "runs/wider"));
  // The same shape initializes from it.
  r = primus("train -c wider.yaml --init-from runs/source/checkpoints/latest", dir_);
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("initialized weights from"), std::string::npos) << r.out;
}

TEST_F(TrainE2E, SigintSavesACheckpointAndStops) {
  write_config("sigint", kMock);
  const std::string log = (fs::path(dir_) / "sigint.out").string();
  const std::string cmd = fmt::format("cd '{}' && exec '{}' train -c sigint.yaml --set train.steps=100000 "
                                      "--set checkpoint.every_steps=0 > '{}' 2>&1", dir_, PRIMUS_EXE, log);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Wait until training has logged a step, then interrupt it.
  int status = 0;
  bool exited = false;
  for (int i = 0; i < 600 && !exited && read_text(fs::path(dir_) / "runs/sigint/metrics.jsonl").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    exited = ::waitpid(pid, &status, WNOHANG) == pid;
  }
  ASSERT_FALSE(exited) << "training ended before it was interrupted: " << read_text(log);
  ::kill(pid, SIGINT);
  ::waitpid(pid, &status, 0);
  const std::string out = read_text(log);
  ASSERT_TRUE(WIFEXITED(status)) << out;
  EXPECT_EQ(WEXITSTATUS(status), 0) << out;
  EXPECT_NE(out.find("stopping on signal"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(fs::path(dir_) / "runs/sigint/checkpoints/latest/model.safetensors")) << out;
}

TEST_F(TrainE2E, GreedyGenerationIsDeterministicWithAndWithoutTheCache) {
  if (!corpus_ready_) GTEST_SKIP() << kCorpus << " is not installed (scripts/setup.sh installs fortunes)";
  write_config("gen", "{ train: dsg/train, valid: dsg/valid, tokenizer: tok.json }");
  ASSERT_EQ(primus("train -c gen.yaml", dir_).rc, 0);
  const std::string args = "generate --checkpoint runs/gen/checkpoints/latest --prompt 'A computer' "
                           "--temperature 0 --max-new-tokens 24";
  auto a = primus(args, dir_), b = primus(args, dir_), c = primus(args + " --no-cache", dir_);
  ASSERT_EQ(a.rc, 0) << a.out;
  EXPECT_EQ(a.out.rfind("A computer", 0), 0u) << a.out;
  EXPECT_GT(a.out.size(), std::string("A computer\n").size()) << "nothing generated: " << a.out;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.out, c.out);
  // Sampling with a seed is reproducible too.
  const std::string sample = "generate --checkpoint runs/gen/checkpoints/latest --prompt 'A computer' "
                             "--temperature 0.9 --top-k 50 --top-p 0.95 --seed 5 --max-new-tokens 24";
  auto s1 = primus(sample, dir_), s2 = primus(sample, dir_);
  ASSERT_EQ(s1.rc, 0) << s1.out;
  EXPECT_EQ(s1.out, s2.out);
  auto bad = primus("generate --checkpoint runs/no/such --prompt x", dir_);
  EXPECT_NE(bad.rc, 0);
  EXPECT_NE(bad.out.find("runs/no/such"), std::string::npos) << bad.out;
}

TEST_F(TrainE2E, ValidationLossFallsBelowTheUnigramEntropy) {
  if (!corpus_ready_) GTEST_SKIP() << kCorpus << " is not installed (scripts/setup.sh installs fortunes)";
  write_config("learn", kReal,
               "{ every_steps: 50, eval_every_steps: 200, eval_steps: 8, progress: 'off' }");
  auto r = primus("train -c learn.yaml --set train.steps=200 --set train.seq_len=64 --set optim.lr=1e-2 "
                  "--set checkpoint.every_steps=0", dir_);
  ASSERT_EQ(r.rc, 0) << r.out;
  double valid = -1, unigram = -1;
  std::istringstream metrics(read_text(fs::path(dir_) / "runs/learn/metrics.jsonl"));
  std::string line;
  while (std::getline(metrics, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("valid_loss")) valid = j["valid_loss"], unigram = j["unigram_entropy"];
  }
  ASSERT_GT(unigram, 0) << r.out;
  EXPECT_LT(valid, unigram) << r.out;
}

TEST_F(TrainE2E, ResumeWithTheDatasetLoaderIsBitwiseExact) {
  if (!corpus_ready_) GTEST_SKIP() << kCorpus << " is not installed (scripts/setup.sh installs fortunes)";
  // The same schedule horizon in both runs (lr_decay_steps), so 10 + 10 steps see the same lr.
  const std::string common = "--set schedule.lr_decay_steps=20 --set checkpoint.every_steps=0 "
                             "--set logging.every_steps=1";
  write_config("straight", kReal);
  write_config("halves", kReal);
  ASSERT_EQ(primus("train -c straight.yaml --set train.steps=20 " + common, dir_).rc, 0);
  auto r = primus("train -c halves.yaml --set train.steps=10 " + common, dir_);
  ASSERT_EQ(r.rc, 0) << r.out;
  r = primus("train -c halves.yaml --resume --set train.steps=20 " + common, dir_);
  ASSERT_EQ(r.rc, 0) << r.out;
  auto losses = [&](const std::string& run) {
    std::vector<double> out;
    std::istringstream in(read_text(fs::path(dir_) / "runs" / run / "metrics.jsonl"));
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line);
      if (j.contains("loss")) out.push_back(j["loss"].get<double>());
    }
    return out;
  };
  auto a = losses("straight"), b = losses("halves");
  ASSERT_EQ(a.size(), 20u);
  ASSERT_EQ(b.size(), 20u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i + 1;
}

}  // namespace
}  // namespace primus::e2e
