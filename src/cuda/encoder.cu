// Token + position embedding. The backward pass sorts the tokens (CUB radix sort) so that each
// vocabulary row is summed in fp32 by one block and added once: deterministic, and accurate when
// dwte is bf16. dwte/dwpe are fp32 or the activations' dtype.
#include <cub/device/device_radix_sort.cuh>

#include "cuda/device_utils.cuh"
#include "cuda/kernels.h"

namespace primus::cuda {
namespace {

template <typename T>
__global__ void encoder_forward_kernel(T* out, const int32_t* tokens, const T* wte, const T* wpe, int64_t N,
                                       int64_t T_, int64_t C) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N * C; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t n = i / C, c = i % C;
    float x = to_float(wte[(int64_t)tokens[n] * C + c]);
    if (wpe) x += to_float(wpe[(n % T_) * C + c]);
    out[i] = from_float<T>(x);
  }
}

// dwpe (T,C) += sum over the batch of dout (B,T,C).
template <typename T, typename G>
__global__ void position_backward_kernel(G* dwpe, const T* dout, int64_t N, int64_t T_, int64_t C) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < T_ * C; i += (int64_t)gridDim.x * blockDim.x) {
    float acc = 0.0f;
    for (int64_t n = i / C; n < N; n += T_) acc += to_float(dout[n * C + i % C]);
    dwpe[i] = from_float<G>(to_float(dwpe[i]) + acc);
  }
}

// Block x = a position in the sorted token list; only the first position of each run of equal
// tokens works: it sums the run's rows of dout for its slice of columns (block y).
template <typename T, typename G>
__global__ void token_backward_kernel(G* dwte, const T* dout, const int32_t* sorted_tokens,
                                      const int32_t* sorted_rows, int64_t N, int64_t C) {
  const int64_t i = blockIdx.x;
  const int32_t token = sorted_tokens[i];
  if (i > 0 && sorted_tokens[i - 1] == token) return;
  const int64_t c = blockIdx.y * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  float acc = 0.0f;
  for (int64_t j = i; j < N && sorted_tokens[j] == token; ++j) acc += to_float(dout[(int64_t)sorted_rows[j] * C + c]);
  G* dst = dwte + (int64_t)token * C + c;
  *dst = from_float<G>(to_float(*dst) + acc);
}

__global__ void iota_kernel(int32_t* x, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    x[i] = static_cast<int32_t>(i);
}

size_t align256(size_t x) { return (x + 255) / 256 * 256; }

size_t sort_temp_bytes(int64_t N) {
  size_t bytes = 0;
  PRIMUS_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, (const int32_t*)nullptr, (int32_t*)nullptr,
                                                    (const int32_t*)nullptr, (int32_t*)nullptr, (int)N));
  return bytes;
}

}  // namespace

void encoder_forward_launch(void* out, const int32_t* tokens, const void* wte, const void* wpe, DType dt,
                            int64_t N, int64_t T, int64_t C, cudaStream_t s) {
  if (N * C == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, encoder_forward_kernel<E><<<grid_for(N * C, 256), 256, 0, s>>>(
      static_cast<E*>(out), tokens, static_cast<const E*>(wte), static_cast<const E*>(wpe), N, T, C));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

size_t encoder_backward_workspace_bytes(int64_t N) {
  return 3 * align256(N * sizeof(int32_t)) + align256(sort_temp_bytes(N));
}

void encoder_backward_launch(void* dwte, void* dwpe, const void* dout, const int32_t* tokens, DType dt,
                             DType grad_dt, int64_t N, int64_t T, int64_t C, void* workspace, size_t workspace_bytes,
                             cudaStream_t s) {
  if (N * C == 0) return;
  if (dwpe) {
    PRIMUS_DISPATCH_FLOAT(dt, E, PRIMUS_DISPATCH_FLOAT(grad_dt, G, position_backward_kernel<E, G>
        <<<grid_for(T * C, 256), 256, 0, s>>>(static_cast<G*>(dwpe), static_cast<const E*>(dout), N, T, C)));
    PRIMUS_CUDA_CHECK_LAUNCH();
  }
  if (!dwte) return;
  char* ws = static_cast<char*>(workspace);
  const size_t a = align256(N * sizeof(int32_t));
  int32_t* rows = reinterpret_cast<int32_t*>(ws);
  int32_t* sorted_tokens = reinterpret_cast<int32_t*>(ws + a);
  int32_t* sorted_rows = reinterpret_cast<int32_t*>(ws + 2 * a);
  void* temp = ws + 3 * a;
  size_t temp_bytes = workspace_bytes - 3 * a;
  iota_kernel<<<grid_for(N, 256), 256, 0, s>>>(rows, N);
  PRIMUS_CUDA_CHECK_LAUNCH();
  PRIMUS_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, tokens, sorted_tokens, rows, sorted_rows,
                                                    (int)N, 0, 32, s));
  dim3 grid(static_cast<unsigned>(N), static_cast<unsigned>((C + 255) / 256));
  PRIMUS_DISPATCH_FLOAT(dt, E, PRIMUS_DISPATCH_FLOAT(grad_dt, G, token_backward_kernel<E, G><<<grid, 256, 0, s>>>(
      static_cast<G*>(dwte), static_cast<const E*>(dout), sorted_tokens, sorted_rows, N, C)));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

}  // namespace primus::cuda
