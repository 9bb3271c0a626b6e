// GEMMs through cuBLASLt with fp32 accumulation (bf16 or fp32 storage), an optional fused bias
// (and GELU) epilogue, and a cache of the heuristic's algorithm choice per shape, layout and
// alignment. Host-only: used by cuda_backend.cpp.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "core/dtype.h"

namespace primus::cuda {

// kGeluAux: D = gelu(AB + bias) with the pre-activation AB + bias also written to `aux` (m, n).
// kDGelu: D = AB * gelu'(aux), aux (m, n) the pre-activation kGeluAux wrote (beta must be 0).
enum class Epilogue { kNone, kBias, kGeluAux, kDGelu };

// Column-major problem: D (m,n) = op(A) (m,k) * op(B) (k,n) + beta * D [+ bias (m)].
// A and B share one dtype; D has it too unless d_f32.
struct GemmShape {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldd = 0;
  bool d_f32 = false;  // D (and C) in fp32 whatever the A/B dtype: bf16 inputs accumulate into fp32 gradients
};

class GemmRunner {
 public:
  explicit GemmRunner(cudaStream_t stream);
  ~GemmRunner();
  GemmRunner(const GemmRunner&) = delete;
  GemmRunner& operator=(const GemmRunner&) = delete;

  void run(void* D, const void* A, const void* B, const void* bias, DType dt, const GemmShape& g, float beta,
           Epilogue epilogue = Epilogue::kNone, void* aux = nullptr);
  // As run, but returns false (running nothing) where cuBLASLt has no algorithm for the request.
  bool try_run(void* D, const void* A, const void* B, const void* bias, DType dt, const GemmShape& g, float beta,
               Epilogue epilogue, void* aux);
  size_t workspace_bytes() const { return workspace_bytes_; }

 private:
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int, int, int, int, int>;
  cublasLtHandle_t handle_ = nullptr;
  cudaStream_t stream_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 32u << 20;
  std::map<Key, cublasLtMatmulAlgo_t> algos_;
};

}  // namespace primus::cuda
