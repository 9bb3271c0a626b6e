// Core: bf16 rounding, tensor views, errors, RNG determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace primus {

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(bf16_to_float(bf16_from_float(1.0f)), 1.0f);
  // 1 + 2^-8 is exactly halfway between two bf16 values: rounds to even (1.0).
  EXPECT_EQ(bf16_to_float(bf16_from_float(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_EQ(bf16_to_float(bf16_from_float(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);
  EXPECT_TRUE(std::isnan(bf16_to_float(bf16_from_float(NAN))));
}

TEST(Tensor, ViewAndSlice) {
  float data[12];
  for (int i = 0; i < 12; ++i) data[i] = static_cast<float>(i);
  Tensor t{data, DType::kF32, Shape{3, 4}};
  EXPECT_EQ(t.numel(), 12);
  EXPECT_EQ(t.view(Shape{2, 6}).shape[1], 6);
  Tensor s = t.slice(4, Shape{4});
  EXPECT_EQ(s.f32()[0], 4.0f);
  EXPECT_DEATH(t.view(Shape{5}), "view");
}

TEST(Error, CarriesHintAndExitCode) {
  Error e = usage_error("bad key", "did you mean x?");
  EXPECT_EQ(e.exit_code(), 2);
  EXPECT_EQ(e.hint(), "did you mean x?");
  EXPECT_EQ(Error("io").exit_code(), 1);
}

TEST(Rng, DeterministicAndRestorable) {
  Rng a(42), b(42);
  for (int i = 0; i < 5; ++i) a.next_u32();
  uint64_t saved = a.state();
  uint32_t next = a.next_u32();
  b.set_state(saved);
  EXPECT_EQ(b.next_u32(), next);
  Rng c(7);
  double sum = 0;
  for (int i = 0; i < 10000; ++i) sum += c.uniform();
  EXPECT_NEAR(sum / 10000, 0.5, 0.02);
}

TEST(Rng, JumpAndThreadedNormalsEqualTheSerialSequence) {
  Rng a(99), b(99);
  for (int i = 0; i < 1000; ++i) a.next_u32();
  b.jump(1000);
  EXPECT_EQ(a.state(), b.state());
  EXPECT_EQ(a.next_u32(), b.next_u32());
  const int64_t n = (int64_t{1} << 21) + 12345;   // two threads' worth and a remainder
  std::vector<float> serial(static_cast<size_t>(n)), threaded(serial.size());
  Rng s(5), t(5);
  for (float& x : serial) x = s.normal(0.0f, 0.02f);
  t.fill_normal(threaded.data(), n, 0.0f, 0.02f, 3);
  EXPECT_EQ(std::memcmp(serial.data(), threaded.data(), serial.size() * sizeof(float)), 0);
  EXPECT_EQ(s.state(), t.state());
}

TEST(Rng, RunStartsLetRunsDrawTheSerialSequence) {
  // What a device does: each run starts from its state and steps with the shared rng_draw.h code.
  Rng serial(2024);
  const std::vector<uint64_t> starts = serial.run_starts(2 * 100, 7);   // 100 normals a run
  ASSERT_EQ(starts.size(), 7u);
  EXPECT_EQ(serial.state(), starts[0]);   // unchanged
  Rng walk(2024);
  for (size_t k = 0; k < starts.size(); ++k) {
    EXPECT_EQ(walk.state(), starts[k]) << "run " << k;
    for (int i = 0; i < 200; ++i) walk.next_u32();
  }
  std::vector<float> expected(650), runs(650);
  Rng(2024).fill_normal(expected.data(), 650, 0.0f, 0.02f, 1);
  for (size_t k = 0; k < starts.size(); ++k) {
    uint64_t state = starts[k];
    for (size_t i = k * 100; i < std::min<size_t>((k + 1) * 100, runs.size()); ++i) {
      const float u1 = rng_uniform(rng_next_u32(state));
      const float u2 = rng_uniform(rng_next_u32(state));
      runs[i] = rng_normal(u1, u2, 0.0f, 0.02f);
    }
  }
  EXPECT_EQ(std::memcmp(expected.data(), runs.data(), runs.size() * sizeof(float)), 0);
  EXPECT_TRUE(Rng(1).run_starts(8, 0).empty());
}

}  // namespace primus
