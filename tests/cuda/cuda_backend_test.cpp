// The CUDA backend's contract outside the op table: a clean error where no GPU (or no such GPU)
// is present, zero-filled allocations, the peak-memory high-water mark, a head size past 256 is refused,
// initial weights drawn on the device along the host generator's sequence.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "cuda/cuda_backend.h"

namespace primus {
namespace {

bool gpu_present() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

TEST(CudaBackend, MissingGpuIsAUsageError) {
  try {
    cuda::make_cuda_backend(gpu_present() ? 4096 : 0);
    FAIL() << "expected primus::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("no CUDA GPU"), std::string::npos) << e.what();
  }
}

TEST(CudaBackend, AllocIsZeroFilledAndPeakIsKept) {
  if (!gpu_present()) GTEST_SKIP() << "no CUDA GPU on this machine";
  auto be = cuda::make_cuda_backend(0);
  EXPECT_EQ(be->name(), "cuda:0");
  const size_t before = be->peak_memory_bytes();
  {
    Buffer a = be->alloc(1 << 20);
    Tensor t = a.as(DType::kF32, {1 << 18});
    std::vector<float> host(1 << 18, 7.0f);
    be->copy_to_host(host.data(), t);
    for (float x : host) ASSERT_EQ(x, 0.0f);
    EXPECT_GE(be->peak_memory_bytes(), before + (1 << 20));
  }
  const size_t peak = be->peak_memory_bytes();
  Buffer small = be->alloc(1024);
  EXPECT_EQ(be->peak_memory_bytes(), peak);  // the freed MiB is reused under the mark
}

TEST(CudaBackend, UnsupportedHeadSizeIsAnError) {
  if (!gpu_present()) GTEST_SKIP() << "no CUDA GPU on this machine";
  auto be = cuda::make_cuda_backend(0);
  const int64_t B = 1, T = 4, NH = 2, HS = 264;
  Buffer q = be->alloc(B * T * 3 * NH * HS * 4), o = be->alloc(B * T * NH * HS * 4), l = be->alloc(B * NH * T * 4);
  EXPECT_THROW(be->attention_forward(o.as(DType::kF32, {B, T, NH * HS}), l.as(DType::kF32, {B, NH, T}),
                                     q.as(DType::kF32, {B, T, 3 * NH * HS}), NH, NH),
               Error);
}

TEST(CudaBackend, InitialWeightsDrawnOnTheDeviceFollowTheHostSequence) {
  if (!gpu_present()) GTEST_SKIP() << "no CUDA GPU on this machine";
  auto be = cuda::make_cuda_backend(0);
  // Several runs of 512 and a ragged last one, written from an offset (the vocabulary's rows).
  const int64_t n = 512 * 37 + 301, pad = 64;
  std::vector<float> expected(static_cast<size_t>(n));
  Rng(777).fill_normal(expected.data(), n, 0.0f, 0.02f, 1);
  Buffer mem = be->alloc(static_cast<size_t>(n + pad) * sizeof(float));
  Tensor all = mem.as(DType::kF32, {n + pad});
  be->fill(all, -1.0f);   // the padding must stay as it was
  be->fill_normal(all.slice(0, Shape{n}), 777, 0.02f);
  std::vector<float> got(static_cast<size_t>(n + pad));
  be->copy_to_host(got.data(), all);
  int64_t equal = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float e = expected[static_cast<size_t>(i)], g = got[static_cast<size_t>(i)];
    // logf/cosf of the device and the host's libm may differ by an ulp or two; nothing more.
    ASSERT_LE(std::abs(g - e), 2e-6f * std::abs(e) + 1e-12f) << "element " << i << ": " << g << " vs " << e;
    equal += g == e;
  }
  EXPECT_GT(equal, n / 2) << "most values should be bitwise equal";
  for (int64_t i = n; i < n + pad; ++i) ASSERT_EQ(got[static_cast<size_t>(i)], -1.0f) << "padding written at " << i;
}

}  // namespace
}  // namespace primus
