// RoPE tables: plain frequencies theta^(-2i/HS), and Llama 3 scaling that keeps high frequencies,
// slows low frequencies by `factor` and interpolates the band between (checked as properties).
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "models/rope.h"

namespace primus::models {
namespace {

TEST(Rope, PlainTablesFollowTheFormula) {
  config::ModelConfig cfg;
  cfg.rope_theta = 500000.0;
  const int64_t HS = 16, T = 7;
  const RopeTables tables = rope_tables(cfg, HS, T);
  ASSERT_EQ(tables.cos.size(), static_cast<size_t>(T * HS / 2));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < HS / 2; ++i) {
      const double angle = static_cast<double>(t) * std::pow(500000.0, -2.0 * static_cast<double>(i) / HS);
      EXPECT_NEAR(tables.cos[t * HS / 2 + i], std::cos(angle), 1e-7);
      EXPECT_NEAR(tables.sin[t * HS / 2 + i], std::sin(angle), 1e-7);
    }
  }
}

TEST(Rope, Llama3ScalingBands) {
  config::ModelConfig cfg;  // Llama 3.1 8B
  cfg.rope_theta = 500000.0;
  const int64_t HS = 128;
  const std::vector<double> plain = rope_inv_freq(cfg, HS);
  cfg.rope_scaling = {.factor = 8.0, .low_freq_factor = 1.0, .high_freq_factor = 4.0,
                      .original_max_position_embeddings = 8192};
  const std::vector<double> scaled = rope_inv_freq(cfg, HS);
  int high = 0, low = 0, medium = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    const double wavelen = 2.0 * std::numbers::pi / plain[i];
    if (wavelen < 8192.0 / 4.0) {
      EXPECT_EQ(scaled[i], plain[i]) << i;
      ++high;
    } else if (wavelen > 8192.0) {
      EXPECT_DOUBLE_EQ(scaled[i], plain[i] / 8.0) << i;
      ++low;
    } else {
      EXPECT_LT(scaled[i], plain[i]) << i;
      EXPECT_GT(scaled[i], plain[i] / 8.0) << i;
      ++medium;
    }
  }
  EXPECT_GT(high, 0);
  EXPECT_GT(low, 0);
  EXPECT_GT(medium, 0);
  // Frequencies still fall monotonically.
  for (size_t i = 1; i < scaled.size(); ++i) EXPECT_LT(scaled[i], scaled[i - 1]);
}

}  // namespace
}  // namespace primus::models
