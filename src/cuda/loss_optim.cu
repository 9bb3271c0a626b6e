// Softmax cross-entropy (one block per row, fp32 statistics), multi-tensor AdamW over the
// segments of the flat parameter buffer (fp32 master weights and moments), and a deterministic
// sum of squares for the gradient norm.
#include "cuda/device_utils.cuh"
#include "cuda/kernels.h"

namespace primus::cuda {
namespace {

constexpr int kRowBlock = 512;
constexpr int kSumBlocks = 512;

// VEC consecutive elements of x at i as floats (one 16-byte load when VEC * sizeof(T) == 16).
template <typename T, int VEC>
__device__ __forceinline__ void load_vec(float* out, const T* x) {
  if constexpr (VEC * sizeof(T) == 16) {
    uint4 raw = *reinterpret_cast<const uint4*>(x);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int k = 0; k < VEC; ++k) out[k] = to_float(e[k]);
  } else {
#pragma unroll
    for (int k = 0; k < VEC; ++k) out[k] = to_float(x[k]);
  }
}

// Row maximum and sum of exp(x - max) over the first V columns, in one pass (an online softmax
// per thread, then merged over the block).
template <typename T, int VEC>
__device__ void softmax_stats(const T* x, int64_t V, float* max_out, float* sum_out) {
  float m = -INFINITY, sum = 0.0f;
  for (int64_t c0 = threadIdx.x * (int64_t)VEC; c0 < V; c0 += blockDim.x * (int64_t)VEC) {
    float v[VEC];
    load_vec<T, VEC>(v, x + c0);
    float mc = -INFINITY;
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      if (c0 + k >= V) v[k] = -INFINITY;
      mc = fmaxf(mc, v[k]);
    }
    const float mn = fmaxf(m, mc);
    sum *= __expf(m - mn);
#pragma unroll
    for (int k = 0; k < VEC; ++k) sum += __expf(v[k] - mn);
    m = mn;
  }
  const float M = block_max(m);
  *sum_out = block_sum(m == -INFINITY ? 0.0f : sum * __expf(m - M));
  *max_out = M;
}

template <typename T, int VEC>
__global__ void cross_entropy_forward_kernel(float* losses, const T* logits, const int32_t* targets, int64_t Vp,
                                             int64_t V, int64_t ignore_index) {
  const int64_t row = blockIdx.x;
  const int64_t target = targets[row];
  if (target == ignore_index) {
    if (threadIdx.x == 0) losses[row] = 0.0f;
    return;
  }
  const T* x = logits + row * Vp;
  float mx, sum;
  softmax_stats<T, VEC>(x, V, &mx, &sum);
  if (threadIdx.x == 0) losses[row] = logf(sum) + mx - to_float(x[target]);
}

template <typename T, int VEC>
__global__ void cross_entropy_backward_kernel(T* dlogits, const T* logits, const int32_t* targets, int64_t Vp,
                                              int64_t V, int64_t ignore_index, float grad_scale) {
  const int64_t row = blockIdx.x;
  const int64_t target = targets[row];
  T* dx = dlogits + row * Vp;
  if (target == ignore_index) {
    for (int64_t c = threadIdx.x; c < Vp; c += blockDim.x) dx[c] = from_float<T>(0.0f);
    return;
  }
  const T* x = logits + row * Vp;
  float mx, sum;
  softmax_stats<T, VEC>(x, V, &mx, &sum);  // ends with a barrier: every read precedes the first write
  const float inv = grad_scale / sum;
  for (int64_t c0 = threadIdx.x * (int64_t)VEC; c0 < Vp; c0 += blockDim.x * (int64_t)VEC) {
    float v[VEC];
    load_vec<T, VEC>(v, x + c0);
    T o[VEC];
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      const int64_t c = c0 + k;
      float d = 0.0f;
      if (c < V) d = __expf(v[k] - mx) * inv - (c == target ? grad_scale : 0.0f);
      o[k] = from_float<T>(d);
    }
    if constexpr (VEC * sizeof(T) == 16) {
      *reinterpret_cast<uint4*>(dx + c0) = *reinterpret_cast<const uint4*>(o);
    } else {
#pragma unroll
      for (int k = 0; k < VEC; ++k) dx[c0 + k] = o[k];
    }
  }
}

// blockIdx.y = segment; a grid-stride loop over its elements.
template <typename P, typename G>
__global__ void adamw_kernel(P* params, float* master, float* m, float* v, const G* grads,
                             const AdamWSegment* segments, AdamWHyper h) {
  const AdamWSegment seg = segments[blockIdx.y];
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < seg.size; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = seg.offset + k;
    const float g = to_float(grads[i]) * h.grad_scale;
    const float mi = h.beta1 * m[i] + (1.0f - h.beta1) * g;
    const float vi = h.beta2 * v[i] + (1.0f - h.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float mhat = mi / h.bias_correction1, vhat = vi / h.bias_correction2;
    float p = master ? master[i] : to_float(params[i]);
    p -= h.lr * (mhat / (sqrtf(vhat) + h.eps) + seg.weight_decay * p);
    if (master) master[i] = p;
    params[i] = from_float<P>(p);
  }
}

template <typename T>
__global__ void sum_squares_partial_kernel(float* partial, const T* x, int64_t n) {
  float acc = 0.0f;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float e = to_float(x[i]);
    acc += e * e;
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void sum_final_kernel(float* out, const float* partial, int n) {
  float acc = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) acc += partial[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) out[0] = acc;
}

// out[0] += scale * sum(x): one block, a fixed order (deterministic).
__global__ void sum_accumulate_kernel(float* out, const float* x, int64_t n, float scale) {
  float acc = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += x[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) out[0] += scale * acc;
}

}  // namespace

void sum_accumulate_launch(float* out, const float* x, int64_t n, float scale, cudaStream_t s) {
  sum_accumulate_kernel<<<1, 1024, 0, s>>>(out, x, n, scale);
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void cross_entropy_forward_launch(float* losses, const void* logits, const int32_t* targets, DType dt, int64_t N,
                                  int64_t Vp, int64_t V, int64_t ignore_index, cudaStream_t s) {
  if (N == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, {
    constexpr int kVec = 16 / sizeof(E);
    if (Vp % kVec == 0 && reinterpret_cast<uintptr_t>(logits) % 16 == 0)
      cross_entropy_forward_kernel<E, kVec><<<(unsigned)N, kRowBlock, 0, s>>>(
          losses, static_cast<const E*>(logits), targets, Vp, V, ignore_index);
    else
      cross_entropy_forward_kernel<E, 1><<<(unsigned)N, kRowBlock, 0, s>>>(
          losses, static_cast<const E*>(logits), targets, Vp, V, ignore_index);
  });
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void cross_entropy_backward_launch(void* dlogits, const void* logits, const int32_t* targets, DType dt, int64_t N,
                                   int64_t Vp, int64_t V, int64_t ignore_index, float grad_scale, cudaStream_t s) {
  if (N == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, {
    constexpr int kVec = 16 / sizeof(E);
    if (Vp % kVec == 0 && reinterpret_cast<uintptr_t>(logits) % 16 == 0 && reinterpret_cast<uintptr_t>(dlogits) % 16 == 0)
      cross_entropy_backward_kernel<E, kVec><<<(unsigned)N, kRowBlock, 0, s>>>(
          static_cast<E*>(dlogits), static_cast<const E*>(logits), targets, Vp, V, ignore_index, grad_scale);
    else
      cross_entropy_backward_kernel<E, 1><<<(unsigned)N, kRowBlock, 0, s>>>(
          static_cast<E*>(dlogits), static_cast<const E*>(logits), targets, Vp, V, ignore_index, grad_scale);
  });
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void adamw_launch(void* params, DType params_dt, float* master, float* m, float* v, const void* grads,
                  DType grads_dt, const AdamWSegment* segments, int n_segments, int64_t max_segment,
                  const AdamWHyper& h, cudaStream_t s) {
  if (n_segments == 0 || max_segment == 0) return;
  int64_t bx = (max_segment + 255) / 256;
  const int64_t budget = 132 * 64 / n_segments + 1;
  if (bx > budget) bx = budget;
  dim3 grid(static_cast<unsigned>(bx), static_cast<unsigned>(n_segments));
  PRIMUS_DISPATCH_FLOAT(params_dt, P, PRIMUS_DISPATCH_FLOAT(grads_dt, G,
      adamw_kernel<P, G><<<grid, 256, 0, s>>>(static_cast<P*>(params), master, m, v,
                                              static_cast<const G*>(grads), segments, h)));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

size_t sum_squares_workspace_bytes() { return kSumBlocks * sizeof(float); }

void sum_squares_launch(float* out, const void* x, DType dt, int64_t n, float* workspace, cudaStream_t s) {
  PRIMUS_DISPATCH_FLOAT(dt, E, sum_squares_partial_kernel<E><<<kSumBlocks, 256, 0, s>>>(
      workspace, static_cast<const E*>(x), n));
  PRIMUS_CUDA_CHECK_LAUNCH();
  sum_final_kernel<<<1, kSumBlocks, 0, s>>>(out, workspace, kSumBlocks);
  PRIMUS_CUDA_CHECK_LAUNCH();
}

}  // namespace primus::cuda
