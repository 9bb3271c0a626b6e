// Turns CUDA and cuBLAS status codes into primus::Error (see cuda_check.h).
#include "cuda/cuda_check.h"

#include <fmt/format.h>

#include "core/error.h"

namespace primus::cuda {

void cuda_failed(cudaError_t status, const char* expr, const char* file, int line) {
  throw Error(fmt::format("CUDA error {} ({}) in {} at {}:{}", cudaGetErrorName(status),
                          cudaGetErrorString(status), expr, file, line),
              "check that the GPU is present and not out of memory (nvidia-smi)");
}

void cublas_failed(cublasStatus_t status, const char* expr, const char* file, int line) {
  throw Error(fmt::format("cuBLAS error {} ({}) in {} at {}:{}", static_cast<int>(status),
                          cublasGetStatusString(status), expr, file, line),
              "an unsupported shape or dtype for cuBLASLt, or the GPU is out of memory");
}

}  // namespace primus::cuda
