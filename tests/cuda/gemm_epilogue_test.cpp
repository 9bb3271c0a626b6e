// cuBLASLt's BGRADB epilogue as the CUDA matmul_backward uses it for the bias gradient: the
// weight-gradient GEMM dweight^T (C,OC) += inp^T (C,N) * dout (N,OC) accumulates into D (beta 1)
// while the sums of dout over N are WRITTEN to the bias-gradient vector, in D's dtype (fp32 here,
// from bf16 or fp32 inputs). Fails where cuBLASLt has no algorithm for it: the backend then falls
// back to the column-sum kernel (correct, but the fusion does not happen). Skips without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "cuda/matmul.h"

namespace primus {
namespace {

bool gpu_present() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

template <typename T>
T* upload(const std::vector<T>& host) {
  T* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, host.size() * sizeof(T)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  return p;
}

// Values that are multiples of 1/4 in [-0.75, 0.75]: exact in bf16, and every product and sum of
// this size exact in fp32, so the expected results are exact whatever the summation order.
float value(int64_t i, int64_t salt) { return static_cast<float>((i * 5 + salt) % 7 - 3) / 4.0f; }

void check_bias_grad_epilogue(DType dt, int64_t N, int64_t C, int64_t OC) {
  std::vector<float> inp(N * C), dout(N * OC);  // (N,C), (N,OC) row-major
  for (int64_t i = 0; i < N * C; ++i) inp[i] = value(i, 1);
  for (int64_t i = 0; i < N * OC; ++i) dout[i] = value(i / 3, 5);
  auto device_input = [&](const std::vector<float>& v) -> void* {
    if (dt == DType::kF32) return upload(v);
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = bf16_from_float(v[i]);
    return upload(h);
  };
  void* d_inp = device_input(inp);
  void* d_dout = device_input(dout);
  float* d_dweight = upload(std::vector<float>(OC * C, 1.0f));  // accumulated into
  float* d_dbias = upload(std::vector<float>(OC, 1e6f));        // written: the old values must go

  cuda::GemmRunner gemm(nullptr);
  cuda::GemmShape g{.trans_a = false, .trans_b = true, .m = C, .n = OC, .k = N, .lda = C, .ldb = OC, .ldd = C,
                    .d_f32 = true};
  const bool fused = gemm.try_run(d_dweight, d_inp, d_dout, nullptr, dt, g, 1.0f, cuda::Epilogue::kBiasGradB, d_dbias);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_TRUE(fused) << "cuBLASLt has no BGRADB algorithm for " << dtype_name(dt) << " inputs, fp32 output, N=" << N
                     << " C=" << C << " OC=" << OC << ": matmul_backward falls back to the column sums";
  if (fused) {
    std::vector<float> dweight(OC * C), dbias(OC);
    ASSERT_EQ(cudaMemcpy(dweight.data(), d_dweight, dweight.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dbias.data(), d_dbias, dbias.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
    int bad = 0;
    for (int64_t o = 0; o < OC; ++o) {
      float want_bias = 0;
      for (int64_t n = 0; n < N; ++n) want_bias += dout[n * OC + o];
      if (dbias[o] != want_bias && ++bad <= 5) ADD_FAILURE() << "dbias[" << o << "] " << dbias[o] << " want " << want_bias;
      for (int64_t c = 0; c < C; ++c) {
        float want = 1.0f;
        for (int64_t n = 0; n < N; ++n) want += inp[n * C + c] * dout[n * OC + o];
        if (dweight[o * C + c] != want && ++bad <= 5)
          ADD_FAILURE() << "dweight[" << o << "," << c << "] " << dweight[o * C + c] << " want " << want;
      }
    }
    EXPECT_EQ(bad, 0);
  }
  for (void* p : {d_inp, d_dout, static_cast<void*>(d_dweight), static_cast<void*>(d_dbias)}) cudaFree(p);
}

TEST(GemmEpilogue, BiasGradBf16IntoFp32) {
  if (!gpu_present()) GTEST_SKIP() << "no CUDA GPU on this machine";
  check_bias_grad_epilogue(DType::kBF16, 256, 64, 96);
  check_bias_grad_epilogue(DType::kBF16, 1000, 128, 40);
}

TEST(GemmEpilogue, BiasGradFp32) {
  if (!gpu_present()) GTEST_SKIP() << "no CUDA GPU on this machine";
  check_bias_grad_epilogue(DType::kF32, 256, 64, 96);
}

}  // namespace
}  // namespace primus
