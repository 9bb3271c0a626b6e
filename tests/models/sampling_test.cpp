// Token sampling: greedy picks the argmax, top-k and top-p never pick excluded tokens, the sample
// frequencies follow softmax(logits / temperature), and a seed reproduces a sequence.
#include <gtest/gtest.h>

#include <cmath>

#include "models/sampling.h"

namespace primus::models {
namespace {

TEST(Sampling, GreedyIsArgmax) {
  const std::vector<float> logits = {0.1f, 2.0f, -1.0f, 1.9f};
  Rng rng(3);
  EXPECT_EQ(sample_token(logits, SamplingOptions{.temperature = 0.0f}, rng), 1);
  EXPECT_EQ(argmax_token(logits), 1);
}

TEST(Sampling, TopKAndTopPRestrictTheChoice) {
  const std::vector<float> logits = {1.0f, 3.0f, 0.0f, 2.9f, -2.0f};
  Rng rng(5);
  for (int i = 0; i < 500; ++i) {
    const int32_t k2 = sample_token(logits, SamplingOptions{.temperature = 2.0f, .top_k = 2}, rng);
    EXPECT_TRUE(k2 == 1 || k2 == 3) << k2;
    // softmax: p1 ~ 0.47, p3 ~ 0.43: top_p 0.5 needs both, top_p 0.3 only the first.
    const int32_t p = sample_token(logits, SamplingOptions{.temperature = 1.0f, .top_p = 0.5f}, rng);
    EXPECT_TRUE(p == 1 || p == 3) << p;
    EXPECT_EQ(sample_token(logits, SamplingOptions{.temperature = 1.0f, .top_p = 0.3f}, rng), 1);
  }
}

TEST(Sampling, FrequenciesFollowTheSoftmax) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  const float temperature = 1.5f;
  std::vector<double> expected(3);
  double total = 0.0;
  for (int i = 0; i < 3; ++i) total += expected[i] = std::exp(logits[i] / temperature);
  Rng rng(11);
  std::vector<int> counts(3, 0);
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) ++counts[sample_token(logits, SamplingOptions{.temperature = temperature}, rng)];
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(counts[i] / double(draws), expected[i] / total, 0.015) << i;
}

TEST(Sampling, SeedReproduces) {
  const std::vector<float> logits = {0.3f, 0.1f, 0.2f, 0.4f, 0.0f};
  Rng a(42), b(42);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(sample_token(logits, {}, a), sample_token(logits, {}, b));
}

}  // namespace
}  // namespace primus::models
