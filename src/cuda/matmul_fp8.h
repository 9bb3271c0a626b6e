// fp8 (E4M3) GEMMs through cuBLASLt, in the linear layer's forward layout: out (N,OC) bf16 =
// (inp_scale * inp (N,C)) @ (weight_scale * weight (OC,C))^T with per-tensor fp32 scales read from
// device memory. In cuBLASLt's column-major terms this is the "TN" form (A = weight transposed,
// B = inp not), the only one its fp8 kernels implement on Hopper. Needs compute capability 8.9 or
// newer (Ada, Hopper); N, C and OC multiples of 16. Host-only: used by cuda_backend.cpp.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "core/tensor.h"

namespace primus::cuda {

// Empty when device `index` has fp8 tensor cores, else a sentence naming the device and its
// compute capability.
std::string fp8_gemm_unavailable(int index, const std::string& backend_name);

class Fp8GemmRunner {
 public:
  explicit Fp8GemmRunner(cudaStream_t stream);
  ~Fp8GemmRunner();
  Fp8GemmRunner(const Fp8GemmRunner&) = delete;
  Fp8GemmRunner& operator=(const Fp8GemmRunner&) = delete;

  // out (N,OC) bf16; inp (N,C), weight (OC,C) E4M3 bytes (dtype kU8); inp_scale, weight_scale (1)
  // fp32. Throws primus::Error where cuBLASLt has no algorithm for the shape.
  void forward(Tensor out, Tensor inp, Tensor weight, Tensor inp_scale, Tensor weight_scale);
  size_t workspace_bytes() const { return workspace_bytes_; }

 private:
  cublasLtHandle_t handle_ = nullptr;
  cudaStream_t stream_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 32u << 20;
  std::map<std::tuple<int64_t, int64_t, int64_t>, cublasLtMatmulAlgo_t> algos_;  // (N, C, OC) -> algorithm
};

}  // namespace primus::cuda
