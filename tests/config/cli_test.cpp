// `primus config` through the real program: exit codes (0 ok, 2 config error) and the messages a
// user sees on stderr.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "config_test_util.h"

namespace primus::config {
namespace {

using testing::ScratchDir;

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together
};

Result run_primus(const std::string& args) {
  std::string command = std::string(PRIMUS_EXE) + " " + args + " 2>&1";
  Result r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buffer;
  while (size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) r.out.append(buffer.data(), n);
  int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(ConfigCli, ValidatePrintsOkForEveryRecipe) {
  for (const char* name : {"quickstart.yaml", "quickstart.toml", "gpt2-124m.yaml", "llama-1.5b.yaml"}) {
    std::string path = testing::source_path(std::string("configs/experiments/") + name);
    Result r = run_primus("config validate -c " + path);
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(r.out, "ok: " + path + "\n");
  }
}

TEST(ConfigCli, ShowPrintsTheResolvedConfigWithProvenance) {
  Result r = run_primus("config show -c " + testing::source_path("configs/experiments/gpt2-124m.yaml") +
                        " --set optim.lr=1e-3 --set train.steps=20000 --provenance");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("lr: 0.001"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("# --set optim.lr=1e-3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("steps: 20000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("models/gpt2-124m.yaml:"), std::string::npos) << r.out;  // extended model file
  EXPECT_NE(r.out.find("# default"), std::string::npos) << r.out;
}

TEST(ConfigCli, MisspeltKeyExitsTwoNamingFileLineAndSuggestion) {
  ScratchDir dir;
  std::string path = dir.write("typo.yaml",
                               "exp_name: t\nmodel: {preset: gpt2-tiny}\ndata: {mock: true}\n"
                               "train:\n  seq_len: 32\n  stpes: 10\n");
  Result r = run_primus("config validate -c " + path);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("error: invalid configuration"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("typo.yaml:6: train.stpes: unknown key; did you mean train.steps?"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hint: "), std::string::npos) << r.out;
}

TEST(ConfigCli, BadSetAndMissingFileExitTwo) {
  std::string recipe = testing::source_path("configs/experiments/quickstart.yaml");
  Result r = run_primus("config show -c " + recipe + " --set optim.lrr=1");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("did you mean optim.lr?"), std::string::npos) << r.out;
  r = run_primus("config validate -c /nonexistent/primus-test.yaml");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("/nonexistent/primus-test.yaml: cannot read the file"), std::string::npos) << r.out;
  r = run_primus("config validate");  // -c is required
  EXPECT_EQ(r.code, 2) << r.out;
}

TEST(ConfigCli, InconsistentTomlExitsTwo) {
  ScratchDir dir;
  std::string path = dir.write("bad.toml",
                               "exp_name = \"t\"\n[model]\npreset = \"gpt2-tiny\"\nhidden_size = 90\n"
                               "[data]\nmock = true\n[train]\nseq_len = 32\n");
  Result r = run_primus("config validate -c " + path);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("bad.toml:4: model.hidden_size: 90 is not divisible by model.num_attention_heads = 4"),
            std::string::npos)
      << r.out;
}

TEST(ConfigCli, SchemaAndPresetsList) {
  Result r = run_primus("config schema");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("| `optim.lr` | number |"), std::string::npos) << r.out;
  r = run_primus("config presets -c " + testing::source_path("configs/experiments/quickstart.yaml"));
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("llama3.1-8b\n"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace primus::config
