// Vocabulary-parallel embedding and cross-entropy (tensor parallelism; see backend.h): this rank
// holds rows [vb, vb + Vs) of the padded vocabulary. The embedding backward maps tokens to local
// rows (others to a sentinel sorted last), sorts them (CUB) and sums each row's gradient in fp32
// with one block: deterministic, like encoder.cu. Cross-entropy: one block per row, fp32 sums.
#include <cub/device/device_radix_sort.cuh>

#include "cuda/device_utils.cuh"
#include "cuda/kernels.h"

namespace primus::cuda {
namespace {

constexpr int kRowBlock = 512;
constexpr int32_t kNotHere = 0x7fffffff;   // a token outside this rank's rows

size_t align256(size_t x) { return (x + 255) / 256 * 256; }

template <typename T>
__global__ void encoder_shard_forward_kernel(T* out, const int32_t* tokens, const T* wte, const T* wpe, int64_t N,
                                             int64_t T_, int64_t C, int64_t vb, int64_t Vs) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N * C; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = i / C, c = i % C, row = (int64_t)tokens[n] - vb;
    float x = row >= 0 && row < Vs ? to_float(wte[row * C + c]) : 0.0f;
    if (wpe) x += to_float(wpe[(n % T_) * C + c]);
    out[i] = from_float<T>(x);
  }
}

__global__ void local_rows_kernel(int32_t* local, int32_t* rows, const int32_t* tokens, int64_t N, int64_t vb,
                                  int64_t Vs) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t row = (int64_t)tokens[i] - vb;
    local[i] = row >= 0 && row < Vs ? static_cast<int32_t>(row) : kNotHere;
    rows[i] = static_cast<int32_t>(i);
  }
}

template <typename T, typename G>
__global__ void shard_position_backward_kernel(G* dwpe, const T* dout, int64_t N, int64_t T_, int64_t C) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < T_ * C; i += (int64_t)gridDim.x * blockDim.x) {
    float acc = 0.0f;
    for (int64_t n = i / C; n < N; n += T_) acc += to_float(dout[n * C + i % C]);
    dwpe[i] = from_float<G>(to_float(dwpe[i]) + acc);
  }
}

template <typename T, typename G>
__global__ void shard_token_backward_kernel(G* dwte, const T* dout, const int32_t* sorted, const int32_t* sorted_rows,
                                            int64_t N, int64_t C) {
  const int64_t i = blockIdx.x;
  const int32_t row = sorted[i];
  if (row == kNotHere || (i > 0 && sorted[i - 1] == row)) return;
  const int64_t c = blockIdx.y * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  float acc = 0.0f;
  for (int64_t j = i; j < N && sorted[j] == row; ++j) acc += to_float(dout[(int64_t)sorted_rows[j] * C + c]);
  G* dst = dwte + (int64_t)row * C + c;
  *dst = from_float<G>(to_float(*dst) + acc);
}

__device__ __forceinline__ int64_t real_columns(int64_t vb, int64_t Vs, int64_t V) {
  const int64_t r = V - vb;
  return r < 0 ? 0 : (r > Vs ? Vs : r);
}

template <typename T>
__global__ void cross_entropy_shard_max_kernel(float* row_max, const T* logits, int64_t Vs, int64_t vb, int64_t V) {
  const T* x = logits + blockIdx.x * Vs;
  const int64_t real = real_columns(vb, Vs, V);
  float m = -INFINITY;
  for (int64_t c = threadIdx.x; c < real; c += blockDim.x) m = fmaxf(m, to_float(x[c]));
  m = block_max(m);
  if (threadIdx.x == 0) row_max[blockIdx.x] = m;
}

template <typename T>
__global__ void cross_entropy_shard_sums_kernel(float* sums, const T* logits, const float* row_max,
                                                const int32_t* targets, int64_t N, int64_t Vs, int64_t vb, int64_t V,
                                                int64_t ignore_index) {
  const int64_t n = blockIdx.x;
  const T* x = logits + n * Vs;
  const int64_t real = real_columns(vb, Vs, V);
  const float mx = row_max[n];
  float sum = 0.0f;
  for (int64_t c = threadIdx.x; c < real; c += blockDim.x) sum += __expf(to_float(x[c]) - mx);
  sum = block_sum(sum);
  if (threadIdx.x == 0) {
    const int64_t t = (int64_t)targets[n] - vb;
    sums[n] = sum;
    sums[N + n] = targets[n] != ignore_index && t >= 0 && t < real ? to_float(x[t]) : 0.0f;
  }
}

template <typename T>
__global__ void cross_entropy_shard_backward_kernel(T* dlogits, const T* logits, const float* row_max,
                                                    const float* sum_exp, const int32_t* targets, int64_t Vs,
                                                    int64_t vb, int64_t V, int64_t ignore_index, float grad_scale) {
  const int64_t n = blockIdx.x;
  T* d = dlogits + n * Vs;
  const T* x = logits + n * Vs;
  const bool ignored = targets[n] == ignore_index;
  const int64_t real = real_columns(vb, Vs, V), t = (int64_t)targets[n] - vb;
  const float mx = row_max[n], f = grad_scale / sum_exp[n];
  for (int64_t c = threadIdx.x; c < Vs; c += blockDim.x) {   // each element read, then written, by one thread
    float g = 0.0f;
    if (!ignored && c < real) g = __expf(to_float(x[c]) - mx) * f - (c == t ? grad_scale : 0.0f);
    d[c] = from_float<T>(g);
  }
}

}  // namespace

void encoder_shard_forward_launch(void* out, const int32_t* tokens, const void* wte, const void* wpe, DType dt,
                                  int64_t N, int64_t T, int64_t C, int64_t vb, int64_t Vs, cudaStream_t s) {
  if (N * C == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, encoder_shard_forward_kernel<E><<<grid_for(N * C, 256), 256, 0, s>>>(
      static_cast<E*>(out), tokens, static_cast<const E*>(wte), static_cast<const E*>(wpe), N, T, C, vb, Vs));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

size_t encoder_shard_backward_workspace_bytes(int64_t N) {
  size_t temp = 0;
  PRIMUS_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp, (const int32_t*)nullptr, (int32_t*)nullptr,
                                                    (const int32_t*)nullptr, (int32_t*)nullptr, (int)N));
  return 4 * align256(N * sizeof(int32_t)) + align256(temp);
}

void encoder_shard_backward_launch(void* dwte, void* dwpe, const void* dout, const int32_t* tokens, DType dt,
                                   DType grad_dt, int64_t N, int64_t T, int64_t C, int64_t vb, int64_t Vs,
                                   void* workspace, size_t workspace_bytes, cudaStream_t s) {
  if (N * C == 0) return;
  if (dwpe) {
    PRIMUS_DISPATCH_FLOAT(dt, E, PRIMUS_DISPATCH_FLOAT(grad_dt, G, shard_position_backward_kernel<E, G>
        <<<grid_for(T * C, 256), 256, 0, s>>>(static_cast<G*>(dwpe), static_cast<const E*>(dout), N, T, C)));
    PRIMUS_CUDA_CHECK_LAUNCH();
  }
  if (!dwte) return;
  char* ws = static_cast<char*>(workspace);
  const size_t a = align256(N * sizeof(int32_t));
  int32_t* local = reinterpret_cast<int32_t*>(ws);
  int32_t* rows = reinterpret_cast<int32_t*>(ws + a);
  int32_t* sorted = reinterpret_cast<int32_t*>(ws + 2 * a);
  int32_t* sorted_rows = reinterpret_cast<int32_t*>(ws + 3 * a);
  size_t temp_bytes = workspace_bytes - 4 * a;
  local_rows_kernel<<<grid_for(N, 256), 256, 0, s>>>(local, rows, tokens, N, vb, Vs);
  PRIMUS_CUDA_CHECK_LAUNCH();
  PRIMUS_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(ws + 4 * a, temp_bytes, local, sorted, rows, sorted_rows, (int)N,
                                                    0, 32, s));
  dim3 grid(static_cast<unsigned>(N), static_cast<unsigned>((C + 255) / 256));
  PRIMUS_DISPATCH_FLOAT(dt, E, PRIMUS_DISPATCH_FLOAT(grad_dt, G, shard_token_backward_kernel<E, G>
      <<<grid, 256, 0, s>>>(static_cast<G*>(dwte), static_cast<const E*>(dout), sorted, sorted_rows, N, C)));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void cross_entropy_shard_max_launch(float* row_max, const void* logits, DType dt, int64_t N, int64_t Vs, int64_t vb,
                                    int64_t V, cudaStream_t s) {
  if (N == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, cross_entropy_shard_max_kernel<E><<<(unsigned)N, kRowBlock, 0, s>>>(
      row_max, static_cast<const E*>(logits), Vs, vb, V));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void cross_entropy_shard_sums_launch(float* sums, const void* logits, const float* row_max, const int32_t* targets,
                                     DType dt, int64_t N, int64_t Vs, int64_t vb, int64_t V, int64_t ignore_index,
                                     cudaStream_t s) {
  if (N == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, cross_entropy_shard_sums_kernel<E><<<(unsigned)N, kRowBlock, 0, s>>>(
      sums, static_cast<const E*>(logits), row_max, targets, N, Vs, vb, V, ignore_index));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void cross_entropy_shard_backward_launch(void* dlogits, const void* logits, const float* row_max, const float* sum_exp,
                                         const int32_t* targets, DType dt, int64_t N, int64_t Vs, int64_t vb, int64_t V,
                                         int64_t ignore_index, float grad_scale, cudaStream_t s) {
  if (N == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, cross_entropy_shard_backward_kernel<E><<<(unsigned)N, kRowBlock, 0, s>>>(
      static_cast<E*>(dlogits), static_cast<const E*>(logits), row_max, sum_exp, targets, Vs, vb, V, ignore_index,
      grad_scale));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

}  // namespace primus::cuda
