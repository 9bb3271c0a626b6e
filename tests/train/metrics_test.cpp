// Throughput math, the device peak table and metrics.jsonl.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <fmt/format.h>

#include "train/atomic_file.h"
#include "train/metrics.h"

namespace primus::train {
namespace {

TEST(Metrics, ThroughputAndMfu) {
  auto t = throughput(4096, 2.0, 1e9, 10.0);   // 2048 tok/s x 1 GFLOP = 2.048 TFLOP/s
  EXPECT_DOUBLE_EQ(t.tokens_per_s, 2048);
  EXPECT_NEAR(t.tflops, 2.048, 1e-12);
  EXPECT_NEAR(t.mfu, 0.2048, 1e-12);
  EXPECT_EQ(throughput(4096, 2.0, 1e9, 0).mfu, 0);   // unknown peak
}

TEST(Metrics, PeakTableKnowsTheCardsAndDtypes) {
  EXPECT_EQ(peak_tflops("NVIDIA H100 80GB HBM3", DType::kBF16), 989);
  EXPECT_EQ(peak_tflops("NVIDIA H100 PCIe", DType::kBF16), 756);
  EXPECT_EQ(peak_tflops("NVIDIA H200", DType::kBF16), 989);
  EXPECT_EQ(peak_tflops("NVIDIA A100-SXM4-80GB", DType::kBF16), 312);
  EXPECT_LT(peak_tflops("NVIDIA A100-SXM4-80GB", DType::kF32), 312);
  EXPECT_EQ(peak_tflops("Some Unknown Accelerator", DType::kBF16), 0);
  EXPECT_GE(peak_tflops("cpu", DType::kF32, 2), 0);
}

TEST(Metrics, Formatting) {
  EXPECT_EQ(format_bytes(512), "512B");
  EXPECT_EQ(format_bytes(1.5 * 1024 * 1024), "1.5MiB");
  EXPECT_EQ(format_duration(42), "42s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
}

TEST(Metrics, JsonlWriterAppendsOneObjectPerLine) {
  auto path = std::filesystem::temp_directory_path() / fmt::format("primus_metrics_{}.jsonl", ::getpid());
  std::filesystem::remove(path);
  {
    MetricsWriter w(path.string());
    w.write({{"step", 1}, {"loss", 3.5}});
    w.write({{"step", 2}, {"loss", 3.25}});
  }
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["step"], ++n);
  }
  EXPECT_EQ(n, 2);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace primus::train
