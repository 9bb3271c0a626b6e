// CPU backend memory and data movement: zero-filled 64-byte aligned allocations with a peak
// counter, fill/copy, normal draws, fp32 <-> bf16 conversion, what supports() answers, and the invariant
// checks that stop an op called with mismatched shapes or out-of-range indices.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>

#include "cpu/cpu_backend.h"
#include "gradcheck.h"

namespace primus::cpu::testing {
namespace {

TEST(CpuBackendMemory, AllocIsZeroedAlignedAndCounted) {
  auto be = make_cpu_backend(1);
  EXPECT_EQ(be->name(), "cpu");
  EXPECT_EQ(be->device(), DeviceKind::kCPU);
  EXPECT_EQ(be->peak_memory_bytes(), 0u);
  {
    Buffer a = be->alloc(1000);
    Buffer b = be->alloc(3000);
    ASSERT_NE(a.data(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u);
    EXPECT_EQ(a.bytes(), 1000u);
    const auto* bytes = static_cast<const unsigned char*>(b.data());
    for (size_t i = 0; i < 3000; ++i) ASSERT_EQ(bytes[i], 0) << i;
    EXPECT_EQ(be->peak_memory_bytes(), 4000u);
  }
  Buffer c = be->alloc(2000);  // the two above are freed: the peak stays at the high-water mark
  EXPECT_EQ(be->peak_memory_bytes(), 4000u);
  Buffer d = be->alloc(2500);
  EXPECT_EQ(be->peak_memory_bytes(), 4500u);
}

TEST(CpuBackendMemory, FillCopyAndHostTransfers) {
  auto be = make_cpu_backend();
  Buffer buf = be->alloc(10 * sizeof(float));
  Tensor t = buf.as(DType::kF32, Shape{2, 5});
  be->fill(t, 1.5f);
  std::vector<float> host(10, 0.0f);
  be->copy_to_host(host.data(), t);
  for (float x : host) EXPECT_EQ(x, 1.5f);
  for (int i = 0; i < 10; ++i) host[i] = static_cast<float>(i);
  be->copy_from_host(t, host.data());
  std::vector<float> other(10, -1.0f);
  be->copy(view(other, {10}), t);
  EXPECT_EQ(other, host);
}

TEST(CpuBackendMemory, FillZeroOverwritesEveryElementOfALargeBuffer) {
  // Large enough for the threaded memset path; odd so the per-thread ranges are uneven.
  auto be = make_cpu_backend(2);
  const int64_t n = (int64_t{1} << 20) + 37;
  std::vector<float> host = poisoned_float(static_cast<size_t>(n));
  be->fill(view(host, {n}), 0.0f);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(std::bit_cast<uint32_t>(host[i]), 0u) << i;
  be->fill(view(host, {n}), -0.0f);  // not all zero bits: the sign must survive
  for (int64_t i = 0; i < n; i += 4099) ASSERT_TRUE(std::signbit(host[i])) << i;
  be->fill(view(host, {n}), 2.5f);
  for (int64_t i = 0; i < n; i += 4099) ASSERT_EQ(host[i], 2.5f) << i;
  EXPECT_EQ(host[n - 1], 2.5f);
}

TEST(CpuBackendMemory, FillNormalIsTheRngSequenceAndLeavesTheRestAlone) {
  // Enough for several threads' parts (each jumps ahead): bitwise the serial draws.
  for (int threads : {1, 3}) {
    auto be = make_cpu_backend(threads);
    const int64_t n = (int64_t{1} << 21) + 77;
    Buffer mem = be->alloc(static_cast<size_t>(n + 5) * sizeof(float));
    Tensor all = mem.as(DType::kF32, {n + 5});
    be->fill(all, -2.0f);
    be->fill_normal(all.slice(0, Shape{n}), 4242, 0.5f);
    Rng serial(4242);
    const float* got = all.f32();
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], serial.normal(0.0f, 0.5f)) << "element " << i << ", " << threads;
    for (int64_t i = n; i < n + 5; ++i) EXPECT_EQ(got[i], -2.0f);
  }
}

TEST(CpuBackendMemory, ConvertRoundTripsThroughBf16) {
  auto be = make_cpu_backend();
  Rand r(81);
  auto f = to_float(r.normal(1001, 10.0));
  f[0] = 1.0f + 1.0f / 256;  // a tie: rounds to even
  std::vector<uint16_t> h(f.size(), 0xffff);
  const Tensor bf{h.data(), DType::kBF16, Shape{1001}};
  be->convert(bf, view(f, {1001}));
  std::vector<float> back = poisoned_float(1001);
  be->convert(view(back, {1001}), bf);
  for (size_t i = 0; i < f.size(); ++i) {
    EXPECT_EQ(h[i], bf16_from_float(f[i]));
    EXPECT_EQ(back[i], bf16_to_float(bf16_from_float(f[i])));
    EXPECT_LE(std::abs(back[i] - f[i]), std::abs(f[i]) / 256);
  }
  EXPECT_EQ(back[0], 1.0f);
  std::vector<uint16_t> again(f.size(), 0);
  be->convert(Tensor{again.data(), DType::kBF16, Shape{1001}}, view(back, {1001}));
  EXPECT_EQ(again, h);  // bf16 -> fp32 -> bf16 is exact
}

TEST(CpuBackendMemory, SupportsEveryOpInFp32Only) {
  auto be = make_cpu_backend();
  for (int op = 0; op <= static_cast<int>(Op::kConvert); ++op) {
    EXPECT_TRUE(be->supports(static_cast<Op>(op), DType::kF32)) << op;
    if (static_cast<Op>(op) != Op::kConvert) {
      EXPECT_FALSE(be->supports(static_cast<Op>(op), DType::kBF16)) << op;
    }
  }
  EXPECT_TRUE(be->supports(Op::kConvert, DType::kBF16));
}

TEST(CpuBackendDeathTest, BadArgumentsStopWithTheirShapes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto be = make_cpu_backend();
  std::vector<float> a(12), b(10), w(3);
  EXPECT_DEATH(be->layernorm_forward(view(a, {4, 3}), view(b, {4}), view(b, {4}), view(b, {2, 5}), view(w, {3}),
                                     Tensor{}, 1e-5f),
               "layernorm out");
  EXPECT_DEATH(be->matmul_forward(view(a, {4, 3}), view(a, {4, 3}), view(b, {2, 5}), Tensor{}), "matmul");
  std::vector<float> logits(2 * 8), losses(2);
  std::vector<int32_t> targets = {1, 7};
  EXPECT_DEATH(be->cross_entropy_forward(view(losses, {2}), view(logits, {2, 8}), view(targets, {2}), 6, -100),
               "target 7 at row 1");
  std::vector<int32_t> tokens = {0, 9};
  std::vector<float> wte(8 * 3), out(2 * 3);
  EXPECT_DEATH(be->encoder_forward(view(out, {1, 2, 3}), view(tokens, {1, 2}), view(wte, {8, 3}), Tensor{}),
               "token 9");
  std::vector<float> qkv(2 * 5 * 4);
  EXPECT_DEATH(be->attention_forward(view(out, {6}), view(losses, {2}), view(qkv, {2, 5, 4}), 3, 2), "multiple");
}

}  // namespace
}  // namespace primus::cpu::testing
