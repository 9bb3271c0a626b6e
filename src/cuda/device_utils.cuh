// Device-side helpers shared by the .cu files: fp32/bf16 loads and stores, warp and block sums,
// launch-size helpers, the dtype dispatch macro and the host's reading of on/off comparison
// switches. Arithmetic is always fp32.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>

#include "core/dtype.h"
#include "cuda/cuda_check.h"

namespace primus::cuda {

using bf16 = __nv_bfloat16;

// An on/off switch from the environment (the kernels' PRIMUS_* comparison switches): on when set,
// non-empty and not starting with '0'.
inline bool env_switch_on(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && v[0] != '0';
}

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(bf16 x) { return __bfloat162float(x); }
template <typename T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_float<bf16>(float x) { return __float2bfloat16_rn(x); }

__device__ __forceinline__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}
__device__ __forceinline__ float warp_max(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
__device__ __forceinline__ float block_sum(float x) {
  __shared__ float partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  x = warp_sum(x);
  __syncthreads();
  if (lane == 0) partial[warp] = x;
  __syncthreads();
  x = lane < warps ? partial[lane] : 0.0f;
  return warp_sum(x);
}
__device__ __forceinline__ float block_max(float x) {
  __shared__ float partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  x = warp_max(x);
  __syncthreads();
  if (lane == 0) partial[warp] = x;
  __syncthreads();
  x = lane < warps ? partial[lane] : -INFINITY;
  return warp_max(x);
}

inline unsigned grid_for(int64_t n, int block, int64_t max_blocks = 132 * 32) {
  int64_t g = (n + block - 1) / block;
  if (g > max_blocks) g = max_blocks;
  return static_cast<unsigned>(g < 1 ? 1 : g);
}

}  // namespace primus::cuda

// Runs the statement with T bound to float or bf16 after the runtime dtype.
#define PRIMUS_DISPATCH_FLOAT(dt, T, ...)                     \
  do {                                                        \
    if ((dt) == ::primus::DType::kBF16) {                     \
      using T = ::primus::cuda::bf16;                         \
      __VA_ARGS__;                                            \
    } else {                                                  \
      using T = float;                                        \
      __VA_ARGS__;                                            \
    }                                                         \
  } while (0)

#define PRIMUS_CUDA_CHECK_LAUNCH() PRIMUS_CUDA_CHECK(cudaGetLastError())
