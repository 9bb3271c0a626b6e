// Shared by the `primus launch -- train` end-to-end tests (train_launch, train_tensor_parallel,
// train_pipeline): a scratch folder per test, a shell in it, the real corpus (Debian's fortunes `art`
// file, tokenized and prepared there) with tiny GPT-2 / Llama configs, and a run's loss curve.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace primus::dist_test {

namespace fs = std::filesystem;

struct Cmd {
  int exit_code = -1;
  std::string output;
};

inline const char* kCorpus = "/usr/share/games/fortunes/art";

// <build>/tests/dist/scratch/<prefix><test name>: each test its own folder (CTest may run them in parallel).
inline fs::path scratch_dir(const std::string& prefix) {
  return fs::path(PRIMUS_BINARY_DIR) / "tests/dist/scratch" /
         (prefix + ::testing::UnitTest::GetInstance()->current_test_info()->name());
}

// Runs `cmd` with sh in `dir` (mpirun allowed as root); stdout and stderr together.
inline Cmd shell_in(const fs::path& dir, const std::string& cmd) {
  Cmd r;
  FILE* p = popen(("cd " + dir.string() + " && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " + cmd +
                   " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// Empties `dir`, trains a 400-token tokenizer on the corpus, prepares art/{train,valid} and writes
// gpt2-tiny.yaml and llama-tiny.yaml (10 steps of 4 micro-batches of 2 x 32 tokens, one thread) with
// `extra_yaml` appended. Call through ASSERT_NO_FATAL_FAILURE.
inline void prepare_tiny_runs(const fs::path& dir, const std::string& extra_yaml = "") {
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string exe = PRIMUS_EXE;
  Cmd tok = shell_in(dir, exe + " data train-tokenizer --input " + kCorpus + " --vocab-size 400 --output tok.json");
  ASSERT_EQ(tok.exit_code, 0) << tok.output;
  Cmd prep = shell_in(dir, exe + " data prepare --input " + kCorpus + " --tokenizer tok.json --output art "
                      "--doc-boundary blank-line --split 90,10,0 --progress off");
  ASSERT_EQ(prep.exit_code, 0) << prep.output;
  for (const char* preset : {"gpt2-tiny", "llama-tiny"}) {
    std::ofstream(dir / (std::string(preset) + ".yaml"))
        << "workspace: runs\nexp_name: x\nmodel: {preset: " << preset << "}\n"
        << "data: {train: art/train, valid: art/valid, tokenizer: tok.json}\n"
        << "train: {micro_batch_size: 2, global_batch_size: 8, seq_len: 32, steps: 10}\n" << extra_yaml
        << "backend: {threads: 1}\nlogging: {every_steps: 1}\ncheckpoint: {every_steps: 0}\n";
  }
}

// The "loss" of every record of <dir>/runs/<run>/metrics.jsonl that has one, in order.
inline std::vector<double> run_losses(const fs::path& dir, const std::string& run) {
  std::vector<double> out;
  std::ifstream in(dir / "runs" / run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto rec = nlohmann::json::parse(line);
    if (rec.contains("loss")) out.push_back(rec.at("loss").get<double>());
  }
  return out;
}

}  // namespace primus::dist_test
