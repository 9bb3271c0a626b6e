// Status checks for CUDA and cuBLAS(Lt) calls, usable from .cu and host files alike (no fmt here).
// A failing call throws primus::Error naming the expression, file:line and the library's message.
// Check every kernel launch with PRIMUS_CUDA_CHECK(cudaGetLastError()).
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

namespace primus::cuda {

[[noreturn]] void cuda_failed(cudaError_t status, const char* expr, const char* file, int line);
[[noreturn]] void cublas_failed(cublasStatus_t status, const char* expr, const char* file, int line);

}  // namespace primus::cuda

#define PRIMUS_CUDA_CHECK(expr)                                                               \
  do {                                                                                        \
    cudaError_t primus_status_ = (expr);                                                      \
    if (primus_status_ != cudaSuccess) [[unlikely]]                                           \
      ::primus::cuda::cuda_failed(primus_status_, #expr, __FILE__, __LINE__);                 \
  } while (0)

#define PRIMUS_CUBLAS_CHECK(expr)                                                             \
  do {                                                                                        \
    cublasStatus_t primus_status_ = (expr);                                                   \
    if (primus_status_ != CUBLAS_STATUS_SUCCESS) [[unlikely]]                                 \
      ::primus::cuda::cublas_failed(primus_status_, #expr, __FILE__, __LINE__);               \
  } while (0)
