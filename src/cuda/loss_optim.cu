// Softmax cross-entropy (one block per row, fp32 statistics), multi-tensor AdamW over the
// segments of the flat parameter buffer (fp32 master weights and moments; one pass that also
// writes the compute-dtype copy of the parameters), and a deterministic sum of squares for the
// gradient norm.
#include "cuda/device_utils.cuh"
#include "cuda/kernels.h"

namespace primus::cuda {
namespace {

constexpr int kRowBlock = 512;
constexpr int kAdamWChunk = 4096;   // elements of a segment one AdamW block updates
constexpr int kSumBlocks = 512;

// VEC consecutive elements of x as floats (one 16- or 8-byte load when VEC * sizeof(T) is that).
template <typename T, int VEC>
__device__ __forceinline__ void load_vec(float* out, const T* x) {
  if constexpr (VEC * sizeof(T) == 16) {
    uint4 raw = *reinterpret_cast<const uint4*>(x);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int k = 0; k < VEC; ++k) out[k] = to_float(e[k]);
  } else if constexpr (VEC * sizeof(T) == 8) {
    uint2 raw = *reinterpret_cast<const uint2*>(x);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int k = 0; k < VEC; ++k) out[k] = to_float(e[k]);
  } else {
#pragma unroll
    for (int k = 0; k < VEC; ++k) out[k] = to_float(x[k]);
  }
}

// Stores VEC floats as T at x (one access of VEC * sizeof(T) bytes; x aligned to that).
template <typename T, int VEC>
__device__ __forceinline__ void store_vec(T* x, const float* in) {
  struct alignas(VEC * sizeof(T)) Pack { T e[VEC]; } pk;
#pragma unroll
  for (int k = 0; k < VEC; ++k) pk.e[k] = from_float<T>(in[k]);
  *reinterpret_cast<Pack*>(x) = pk;
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

// With losses: lse = loss + logit[target] (what the forward computed), one pass over the row.
template <typename T, int VEC>
__global__ void cross_entropy_backward_kernel(T* dlogits, const T* logits, const int32_t* targets,
                                              const float* losses, int64_t Vp, int64_t V, int64_t ignore_index,
                                              float grad_scale) {
  const int64_t row = blockIdx.x;
  const int64_t target = targets[row];
  T* dx = dlogits + row * Vp;
  if (target == ignore_index) {
    for (int64_t c = threadIdx.x; c < Vp; c += blockDim.x) dx[c] = from_float<T>(0.0f);
    return;
  }
  const T* x = logits + row * Vp;
  float mx, inv;
  if (losses) {
    __shared__ float lse;
    if (threadIdx.x == 0) lse = losses[row] + to_float(x[target]);
    __syncthreads();   // x[target] is read before any thread overwrites it (in place)
    mx = lse, inv = grad_scale;
  } else {
    float sum;
    softmax_stats<T, VEC>(x, V, &mx, &sum);  // ends with a barrier: every read precedes the first write
    inv = grad_scale / sum;
  }
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

// One AdamW element update in fp32; p is the master weight (or the parameter when there is none).
struct AdamWStep {
  float m, v, p;
};
__device__ __forceinline__ AdamWStep adamw_math(float g, float m, float v, float p, float wd, const AdamWHyper& h) {
  g *= h.grad_scale;
  m = h.beta1 * m + (1.0f - h.beta1) * g;
  v = h.beta2 * v + (1.0f - h.beta2) * g * g;
  const float mhat = m / h.bias_correction1, vhat = v / h.bias_correction2;
  p -= h.lr * (mhat / (sqrtf(vhat) + h.eps) + wd * p);
  return {m, v, p};
}

template <typename P, typename G>
__device__ __forceinline__ void adamw_one(P* params, float* master, float* m, float* v, const G* grads, int64_t i,
                                          float wd, const AdamWHyper& h) {
  const AdamWStep r =
      adamw_math(to_float(grads[i]), m[i], v[i], master ? master[i] : to_float(params[i]), wd, h);
  m[i] = r.m;
  v[i] = r.v;
  if (master) master[i] = r.p;
  params[i] = from_float<P>(r.p);
}

// A flat launch over every segment: block b works on chunk b - first_chunk of the segment whose
// chunks hold b (kAdamWChunk elements each, so a large segment spreads over the whole GPU while a
// small one takes one block). Inside a segment, N-element packs start at indices divisible by N
// (every base pointer is 16-byte aligned when N > 1); the segment's first and last few elements
// outside whole packs are done one by one by chunk 0.
template <typename P, typename G, int N>
__global__ void __launch_bounds__(256) adamw_kernel(P* __restrict__ params, float* __restrict__ master,
                                                    float* __restrict__ m, float* __restrict__ v,
                                                    const G* __restrict__ grads, const AdamWSegment* segments,
                                                    int n_segments, AdamWHyper h) {
  int lo = 0, hi = n_segments - 1;
  while (lo < hi) {  // the last segment with first_chunk <= blockIdx.x
    const int mid = (lo + hi + 1) / 2;
    if (segments[mid].first_chunk <= (int64_t)blockIdx.x) lo = mid;
    else hi = mid - 1;
  }
  const AdamWSegment seg = segments[lo];
  const int64_t chunk = blockIdx.x - seg.first_chunk, end = seg.offset + seg.size;
  int64_t a = (seg.offset + N - 1) / N * N, b = end / N * N;   // packs cover [a, b)
  if (a > end) a = end;
  if (b < a) b = a;
  if (N > 1 && chunk == 0 && threadIdx.x < 2 * N) {
    const int64_t i = threadIdx.x < N ? seg.offset + threadIdx.x : b + threadIdx.x - N;
    if (threadIdx.x < N ? i < a : i < end) adamw_one(params, master, m, v, grads, i, seg.weight_decay, h);
  }
  const int64_t base = a + chunk * kAdamWChunk;
#pragma unroll 4
  for (int j = threadIdx.x * N; j < kAdamWChunk; j += blockDim.x * N) {
    const int64_t i = base + j;
    if (i >= b) break;
    float g[N], mi[N], vi[N], p[N];
    if constexpr (N == 4) {
      const float4 m4 = *reinterpret_cast<const float4*>(m + i), v4 = *reinterpret_cast<const float4*>(v + i);
      mi[0] = m4.x, mi[1] = m4.y, mi[2] = m4.z, mi[3] = m4.w;
      vi[0] = v4.x, vi[1] = v4.y, vi[2] = v4.z, vi[3] = v4.w;
      load_vec<G, 4>(g, grads + i);
      if (master) {
        const float4 p4 = *reinterpret_cast<const float4*>(master + i);
        p[0] = p4.x, p[1] = p4.y, p[2] = p4.z, p[3] = p4.w;
      } else {
        load_vec<P, 4>(p, params + i);
      }
    } else {
      g[0] = to_float(grads[i]), mi[0] = m[i], vi[0] = v[i], p[0] = master ? master[i] : to_float(params[i]);
    }
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const AdamWStep r = adamw_math(g[k], mi[k], vi[k], p[k], seg.weight_decay, h);
      mi[k] = r.m, vi[k] = r.v, p[k] = r.p;
    }
    if constexpr (N == 4) {
      *reinterpret_cast<float4*>(m + i) = make_float4(mi[0], mi[1], mi[2], mi[3]);
      *reinterpret_cast<float4*>(v + i) = make_float4(vi[0], vi[1], vi[2], vi[3]);
      if (master) *reinterpret_cast<float4*>(master + i) = make_float4(p[0], p[1], p[2], p[3]);
      store_vec<P, 4>(params + i, p);
    } else {
      m[i] = mi[0], v[i] = vi[0];
      if (master) master[i] = p[0];
      params[i] = from_float<P>(p[0]);
    }
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

void cross_entropy_backward_launch(void* dlogits, const void* logits, const int32_t* targets, const float* losses,
                                   DType dt, int64_t N, int64_t Vp, int64_t V, int64_t ignore_index, float grad_scale,
                                   cudaStream_t s) {
  if (N == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, {
    constexpr int kVec = 16 / sizeof(E);
    if (Vp % kVec == 0 && reinterpret_cast<uintptr_t>(logits) % 16 == 0 && reinterpret_cast<uintptr_t>(dlogits) % 16 == 0)
      cross_entropy_backward_kernel<E, kVec><<<(unsigned)N, kRowBlock, 0, s>>>(
          static_cast<E*>(dlogits), static_cast<const E*>(logits), targets, losses, Vp, V, ignore_index, grad_scale);
    else
      cross_entropy_backward_kernel<E, 1><<<(unsigned)N, kRowBlock, 0, s>>>(
          static_cast<E*>(dlogits), static_cast<const E*>(logits), targets, losses, Vp, V, ignore_index, grad_scale);
  });
  PRIMUS_CUDA_CHECK_LAUNCH();
}

int64_t adamw_chunks(int64_t size) { return size <= kAdamWChunk ? 1 : (size + kAdamWChunk - 1) / kAdamWChunk; }

void adamw_launch(void* params, DType params_dt, float* master, float* m, float* v, const void* grads,
                  DType grads_dt, const AdamWSegment* segments, int n_segments, int64_t total_chunks,
                  const AdamWHyper& h, cudaStream_t s) {
  if (n_segments == 0 || total_chunks == 0) return;
  auto a16 = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  const bool packed = a16(params) && a16(m) && a16(v) && a16(grads) && (!master || a16(master));
  PRIMUS_DISPATCH_FLOAT(params_dt, P, PRIMUS_DISPATCH_FLOAT(grads_dt, G, {
    if (packed)
      adamw_kernel<P, G, 4><<<(unsigned)total_chunks, 256, 0, s>>>(static_cast<P*>(params), master, m, v,
                                                                   static_cast<const G*>(grads), segments, n_segments, h);
    else
      adamw_kernel<P, G, 1><<<(unsigned)total_chunks, 256, 0, s>>>(static_cast<P*>(params), master, m, v,
                                                                   static_cast<const G*>(grads), segments, n_segments, h);
  }));
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
