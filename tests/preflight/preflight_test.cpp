// Preflight: passes on this healthy CPU machine, fails on a missing or malformed dataset, a full
// disk (a 64 KiB tmpfs when running as root, and a fake free-space provider), impossible configs
// and bad environment variables; the report formats parse.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "data/indexed_dataset.h"
#include "preflight/checks.h"

namespace primus::preflight {
namespace {

namespace fs = std::filesystem;

class Preflight : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / fmt::format("preflight-{}-{}", ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    // A small, well-formed Megatron dataset.
    data::IndexedDatasetWriter w((dir_ / "corpus").string(), data::TokenDType::kUInt16);
    std::vector<int32_t> doc(300);  // (tokens)
    for (int d = 0; d < 8; ++d) {
      for (size_t i = 0; i < doc.size(); ++i) doc[i] = static_cast<int32_t>((i * 31 + static_cast<size_t>(d)) % 500);
      w.add_document(doc);
    }
    w.finish();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // An experiment on the tiny GPT-2 preset; `extra` is appended (YAML).
  std::string config(const std::string& extra = "", const std::string& train = "", const std::string& workspace = "",
                     const std::string& model = "{ preset: gpt2-tiny }") {
    std::string path = (dir_ / "exp.yaml").string();
    std::ofstream(path) << "workspace: " << (workspace.empty() ? (dir_ / "runs").string() : workspace) << "\nexp_name: t\n"
                        << "model: " << model << "\n"
                        << "data: { train: " << (train.empty() ? (dir_ / "corpus").string() : train) << ", split: \"90,10,0\" }\n"
                        << "train: { micro_batch_size: 2, global_batch_size: 2, seq_len: 32, steps: 10 }\n"
                        << extra;
    return path;
  }
  PreflightOptions options(const std::string& cfg) {
    PreflightOptions o;
    o.config_path = cfg;
    o.quick = true;
    o.write_test_bytes = 1 << 20;
    return o;
  }
  static std::string failures(const PreflightReport& r) {
    std::string s;
    for (const auto& f : r.findings())
      if (f.status == Status::kFail) s += f.category + "/" + f.check + ": " + f.reason + "\n";
    return s;
  }
  fs::path dir_;
};

TEST_F(Preflight, PassesOnThisHealthyMachine) {
  PreflightOptions o = options(config());
  o.quick = false;  // the host GEMM and bandwidth measurements too (no timing is asserted)
  PreflightReport r = preflight_run(o, nullptr);
  EXPECT_FALSE(r.failed()) << failures(r) << r.table();
  ASSERT_NE(r.find("config", "dataset train"), nullptr);
  EXPECT_EQ(r.find("config", "dataset train")->status, Status::kPass);
  EXPECT_EQ(r.find("config", "memory projection")->status, Status::kPass);
  EXPECT_EQ(r.find("storage", "write")->status, Status::kPass);
  EXPECT_NE(r.find("performance", "host gemm"), nullptr);
  EXPECT_NE(r.find("host", "memory"), nullptr);
}

TEST_F(Preflight, FailsOnAMissingDataset) {
  PreflightReport r = preflight_run(options(config("", (dir_ / "nowhere").string())), nullptr);
  EXPECT_TRUE(r.failed());
  const Finding* f = r.find("config", "dataset train");
  ASSERT_NE(f, nullptr) << r.table();
  EXPECT_EQ(f->status, Status::kFail);
  EXPECT_NE(f->reason.find("missing"), std::string::npos) << f->reason;
  EXPECT_NE(f->hint.find("primus data prepare"), std::string::npos);
}

TEST_F(Preflight, FailsOnAMalformedDataset) {
  std::ofstream((dir_ / "corpus.idx").string(), std::ios::binary | std::ios::trunc) << "MMIDIDX\0\0garbage";
  PreflightReport r = preflight_run(options(config()), nullptr);
  const Finding* f = r.find("config", "dataset train");
  ASSERT_NE(f, nullptr) << r.table();
  EXPECT_EQ(f->status, Status::kFail) << f->reason;
  EXPECT_NE(f->reason.find("corpus.idx"), std::string::npos) << f->reason;
}

TEST_F(Preflight, FailsOnAFullDiskReportedByTheFilesystem) {
  PreflightOptions o = options(config());
  o.disk_space = [](const std::string&) { return std::optional<DiskSpace>(DiskSpace{4096, 1 << 20}); };
  PreflightReport r = preflight_run(o, nullptr);
  const Finding* f = r.find("storage", "free space");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->status, Status::kFail) << f->reason;
  EXPECT_NE(f->reason.find("one checkpoint needs"), std::string::npos) << f->reason;
}

TEST_F(Preflight, FailsOnARealTinyFilesystem) {
  const fs::path mnt = dir_ / "tiny";
  fs::create_directories(mnt);
  if (::geteuid() != 0 || ::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k") != 0)
    GTEST_SKIP() << "mounting a tmpfs needs root";
  PreflightOptions o = options(config("", "", mnt.string()));
  o.write_test_bytes = 1 << 20;
  PreflightReport r = preflight_run(o, nullptr);
  ::umount(mnt.c_str());
  EXPECT_EQ(r.find("storage", "free space")->status, Status::kFail) << r.table();
  EXPECT_TRUE(r.failed());
}

TEST_F(Preflight, FailsOnImpossibleConfigs) {
  // Invalid values: validation fails and says why.
  PreflightReport bad = preflight_run(options(config("optim: { lr: -1 }\n")), nullptr);
  ASSERT_NE(bad.find("config", "validation"), nullptr);
  EXPECT_EQ(bad.find("config", "validation")->status, Status::kFail);
  EXPECT_NE(bad.find("config", "validation")->reason.find("optim.lr"), std::string::npos) << bad.find("config", "validation")->reason;
  // A valid config that cannot fit: 100k-wide layers.
  PreflightReport huge = preflight_run(
      options(config("", "", "", "{ preset: gpt2-tiny, hidden_size: 65536, num_attention_heads: 64, num_layers: 64, ffn_hidden_size: 262144 }")),
      nullptr);
  const Finding* m = huge.find("config", "memory projection");
  ASSERT_NE(m, nullptr) << failures(huge);
  EXPECT_EQ(m->status, Status::kFail);
  EXPECT_NE(m->reason.find("does not fit"), std::string::npos) << m->reason;
}

int run_primus(const std::string& args) {
  const int status = std::system((std::string(PRIMUS_EXE) + " " + args + " > /dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(Preflight, CommandExitCodesAndJsonReport) {
  const std::string out = (dir_ / "report.json").string();
  EXPECT_EQ(run_primus("preflight --quick --out " + out), 0);
  std::ifstream f(out);
  const auto j = nlohmann::json::parse(f);
  EXPECT_TRUE(j["ok"].get<bool>());
  EXPECT_GT(j["summary"]["pass"].get<int>(), 5);
  EXPECT_EQ(run_primus("preflight --quick -c " + config("", (dir_ / "nowhere").string())), 1);
  EXPECT_EQ(run_primus("preflight --quick -c " + config()), 0);
}

TEST(PreflightEnvironment, JudgesKnownBadValues) {
  PreflightReport r;
  check_environment(r, {{"CUDA_LAUNCH_BLOCKING", "1"}, {"CUDA_VISIBLE_DEVICES", ""}, {"NCCL_DEBUG", "WARN"}, {"NCCL_ALGO", "Ring"}}, 2);
  EXPECT_EQ(r.find("environment", "CUDA_LAUNCH_BLOCKING")->status, Status::kWarn);
  EXPECT_EQ(r.find("environment", "CUDA_VISIBLE_DEVICES")->status, Status::kFail);
  EXPECT_EQ(r.find("environment", "NCCL_ALGO")->status, Status::kWarn);
  EXPECT_EQ(r.find("environment", "NCCL_DEBUG"), nullptr);  // WARN is fine
  EXPECT_NE(r.find("environment", "nccl variables")->reason.find("NCCL_DEBUG=WARN"), std::string::npos);
  PreflightReport clean;
  check_environment(clean, {{"OMP_NUM_THREADS", "1"}}, 1);
  EXPECT_FALSE(clean.failed());
  EXPECT_EQ(clean.count(Status::kWarn), 0);
}

TEST(PreflightReport, FormatsParseAndSummarize) {
  PreflightReport r;
  r.add("host", "memory", Status::kPass, "10GiB");
  r.add("storage", "free space", Status::kFail, "1KiB | left", "free space");
  r.add("environment", "NCCL_ALGO", Status::kWarn, "set", "unset it");
  const auto j = nlohmann::json::parse(r.json().dump());
  EXPECT_EQ(j["summary"]["fail"], 1);
  EXPECT_FALSE(j["ok"].get<bool>());
  EXPECT_EQ(PreflightReport::from_json(j).findings().size(), 3u);
  EXPECT_EQ(PreflightReport::from_json(j).findings()[1].status, Status::kFail);
  EXPECT_NE(r.table().find("1 passed, 1 warnings, 1 failed"), std::string::npos) << r.table();
  EXPECT_NE(r.table().find("hint: free space"), std::string::npos);
  const std::string md = r.markdown();
  EXPECT_NE(md.find("| fail | storage | free space | 0 | 1KiB \\| left | free space |"), std::string::npos) << md;
}

}  // namespace
}  // namespace primus::preflight
