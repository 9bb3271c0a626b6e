// The benchmark, plot and projection commands end to end through the primus binary: report files
// parse, an equal baseline passes, a planted regression exits 1 naming it, plot draws a run.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/report.h"
#include "bench/run_plot.h"
#include "core/error.h"

namespace primus::bench {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int code = -1;
  std::string output;   // stdout and stderr
};

CliRun run(const std::string& args) {
  CliRun r;
  std::string cmd = std::string(PRIMUS_EXE) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / fmt::format("bench-cli-{}", ::getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

const char* kGemm = "benchmark gemm --m 32,64 --n 48 --k 40 --layout nt,tn --iters 2 --warmup 1 --threads 1 --rotate-mib 1";

TEST_F(Cli, GemmReportsParseAndAnEqualBaselinePasses) {
  CliRun r = run(fmt::format("{} --out {} --out {} --out {} --plot {}", kGemm, path("g.jsonl"), path("g.csv"), path("g.md"),
                          path("g.svg")));
  ASSERT_EQ(r.code, 0) << r.output;
  Report rep = report_read_jsonl(path("g.jsonl"));
  ASSERT_EQ(rep.rows.size(), 4u);
  for (const auto& row : rep.rows) EXPECT_GT(row["tflops"].get<double>(), 0.0);
  EXPECT_NE(rep.preamble.value("command", "").find("benchmark gemm"), std::string::npos);
  EXPECT_FALSE(rep.preamble.value("commit", "").empty());
  std::ifstream csv(path("g.csv"));
  int records = 0;
  for (std::string l; std::getline(csv, l);)
    if (l.rfind("#", 0) != 0) {
      EXPECT_EQ(std::count(l.begin(), l.end(), ','), 9) << l;
      ++records;
    }
  EXPECT_EQ(records, 5);
  EXPECT_TRUE(fs::file_size(path("g.md")) > 0 && fs::file_size(path("g.svg")) > 0);
  // The same run against itself with a wide tolerance (timings on a shared machine vary).
  CliRun again = run(fmt::format("{} --baseline {} --tolerance 99", kGemm, path("g.jsonl")));
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("within 99%"), std::string::npos) << again.output;
}

TEST_F(Cli, APlantedRegressionExitsOneAndIsListed) {
  ASSERT_EQ(run(fmt::format("{} --out {}", kGemm, path("base.jsonl"))).code, 0);
  // Plant a baseline 1000x faster on one row: this run must be flagged there. The other rows' baselines are
  // made 1000x slower so that timing noise on a shared machine cannot flag them too.
  Report base = report_read_jsonl(path("base.jsonl"));
  for (size_t i = 0; i < base.rows.size(); ++i)
    base.rows[i]["tflops"] = base.rows[i]["tflops"].get<double>() * (i == 1 ? 1000.0 : 0.001);
  report_write(base, path("fast.jsonl"));
  CliRun r = run(fmt::format("{} --baseline {} --tolerance 50", kGemm, path("fast.jsonl")));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("regression: m=64 n=48 k=40 layout=nt dtype=fp32"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 of 4 results regressed"), std::string::npos) << r.output;
}

TEST_F(Cli, BadArgumentsAreUsageErrors) {
  EXPECT_EQ(run("benchmark gemm --m 8:4:x2").code, 2);
  EXPECT_EQ(run("benchmark gemm --m 64 --n 64 --k 64 --layout xy").code, 2);
  EXPECT_EQ(run("benchmark gemm --model no-such-preset").code, 2);
}

TEST_F(Cli, Fp8GemmIsRefusedOnTheCpuNamingDeviceAndDtype) {
  for (const char* args : {"benchmark gemm --m 64 --n 64 --k 64 --dtype fp8",
                           "benchmark gemm --m 64 --n 64 --k 64 --dtype fp32,fp8 --iters 1",
                           "benchmark gemm --model gpt2-124m --micro-batch 1 --seq-len 64 --dtype fp8"}) {
    CliRun r = run(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("--dtype fp8: the CPU (OpenBLAS) has no fp8 (E4M3) GEMM"), std::string::npos) << r.output;
  }
  CliRun bad = run("benchmark gemm --m 64 --n 64 --k 64 --dtype fp8_e5m2");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.output.find("unknown --dtype 'fp8_e5m2'"), std::string::npos) << bad.output;
  CliRun attention = run("benchmark attention --seq-len 64 --dtype fp8");
  EXPECT_EQ(attention.code, 2);
  EXPECT_NE(attention.output.find("fp8 is not available for this benchmark"), std::string::npos) << attention.output;
}

TEST_F(Cli, ModelGemmsHaveTotals) {
  CliRun r = run(fmt::format("benchmark gemm --model gpt2-tiny --micro-batch 1 --seq-len 32 --iters 1 --warmup 0 --threads 1 "
                          "--rotate-mib 1 --out {}", path("m.jsonl")));
  ASSERT_EQ(r.code, 0) << r.output;
  Report rep = report_read_jsonl(path("m.jsonl"));
  ASSERT_EQ(rep.rows.size(), 17u);  // 5 linears x 3 passes + layer and step totals
  EXPECT_EQ(rep.rows[15]["gemm"], "layer total");
  EXPECT_EQ(rep.rows[16]["gemm"], "step total");
  EXPECT_EQ(rep.rows[0]["m"], 32);   // B*T rows
  EXPECT_EQ(rep.rows[0]["n"], 192);  // 3*C
}

TEST_F(Cli, PlotDrawsARun) {
  fs::create_directories(dir_ / "run");
  std::ofstream m(path("run/metrics.jsonl"));
  for (int s = 1; s <= 20; ++s) {
    m << fmt::format(R"({{"step":{},"loss":{},"lr":{},"tokens_per_s":{}}})", s, 5.0 - 0.1 * s, 1e-3 * s / 20, 1000 + s) << "\n";
    if (s % 10 == 0) m << fmt::format(R"({{"step":{},"valid_loss":{}}})", s, 4.9 - 0.1 * s) << "\n";
  }
  m << R"({"step":21,"loss":)";  // a run killed mid-write
  m.close();
  auto charts = run_charts(run_metrics_path(path("run")));
  ASSERT_EQ(charts.size(), 3u);
  ASSERT_EQ(charts[0].series.size(), 2u);
  EXPECT_EQ(charts[0].series[0].points.size(), 20u);
  EXPECT_EQ(charts[0].series[1].points.size(), 2u);
  CliRun r = run("plot " + path("run"));
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream svg(path("run/curves.svg"));
  std::stringstream ss;
  ss << svg.rdbuf();
  EXPECT_NE(ss.str().find("validation loss"), std::string::npos);
  EXPECT_EQ(run("plot " + path("nothing-here")).code, 1);
  std::ofstream(path("bad/metrics.jsonl"));
  fs::create_directories(dir_ / "bad");
  std::ofstream(path("bad/metrics.jsonl")) << "garbage\n{\"step\":1,\"loss\":2}\n";
  EXPECT_THROW(run_charts(path("bad/metrics.jsonl")), Error);
}

TEST_F(Cli, E2eTrainsTheConfigOnMockData) {
  CliRun r = run(fmt::format("benchmark e2e -c {}/configs/experiments/quickstart.yaml --set train.seq_len=32 "
                             "--set train.micro_batch_size=2 --set train.global_batch_size=4 --set model.vocab_size=512 --micro-batch 1,2 "
                             "--warmup 0 --steps 1 --threads 1 --out {}", PRIMUS_SOURCE_DIR, path("e2e.jsonl")));
  ASSERT_EQ(r.code, 0) << r.output;
  Report rep = report_read_jsonl(path("e2e.jsonl"));
  ASSERT_EQ(rep.rows.size(), 2u);
  EXPECT_EQ(rep.rows[0]["accum"], 4);
  EXPECT_EQ(rep.rows[1]["accum"], 2);
  for (const auto& row : rep.rows) {
    EXPECT_GT(row["tokens_per_s"].get<double>(), 0.0);
    EXPECT_GT(row["peak_mem_gib"].get<double>(), 0.0);
    // Random tokens over a 512-token vocabulary: the first loss is close to ln(512) = 6.24.
    EXPECT_NEAR(row["loss"].get<double>(), 6.24, 0.5);
  }
}

TEST_F(Cli, AttentionSweepsSequenceLengths) {
  CliRun r = run(fmt::format("benchmark attention --seq-len 16,32 --heads 4 --kv-heads 2 --head-dim 8 --iters 1 --warmup 0 "
                             "--threads 1 --out {}", path("att.jsonl")));
  ASSERT_EQ(r.code, 0) << r.output;
  Report rep = report_read_jsonl(path("att.jsonl"));
  ASSERT_EQ(rep.rows.size(), 2u);
  EXPECT_EQ(rep.rows[1]["seq_len"], 32);
  EXPECT_GT(rep.rows[1]["fwd_tflops"].get<double>(), 0.0);
  EXPECT_EQ(run("benchmark attention --seq-len 16 --heads 4 --kv-heads 3").code, 2);
}

TEST_F(Cli, ProjectionMemoryPrintsEveryPart) {
  CliRun r = run("projection memory -c " PRIMUS_SOURCE_DIR "/configs/experiments/quickstart.yaml --json");
  ASSERT_EQ(r.code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_GT(j["weights_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(j["total_bytes"].get<int64_t>(), j["weights_bytes"].get<int64_t>() + j["grads_bytes"].get<int64_t>() +
                                                 j["optimizer_bytes"].get<int64_t>() + j["activation_bytes"].get<int64_t>() +
                                                 j["other_bytes"].get<int64_t>());
  EXPECT_TRUE(j["fits"].get<bool>());
  EXPECT_EQ(run("projection memory -c " PRIMUS_SOURCE_DIR "/configs/experiments/quickstart.yaml --set parallel.tensor=3").code, 2);
}

}  // namespace
}  // namespace primus::bench
