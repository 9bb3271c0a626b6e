// Elementwise kernels: fill, convert, scale, GELU (tanh), SwiGLU, residual, accumulate, RoPE
// (rotate-half over packed qkv). Memory-bound: each thread moves 16-byte vectors (8 bf16 or 4 fp32)
// where every pointer is 16-byte aligned, else one element; the last n % VEC elements are done
// one by one. fp32 arithmetic. The gelu, swiglu and rope backward passes WRITE dinp.
#include "cuda/device_utils.cuh"
#include "cuda/kernels.h"

namespace primus::cuda {
namespace {

constexpr int kBlock = 256;

#define PRIMUS_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

// N consecutive elements, loaded and stored as one access of N * sizeof(T) bytes.
template <typename T, int N> struct alignas(sizeof(T) * N) Pack {
  T v[N];
};
template <typename T, int N> __device__ __forceinline__ Pack<T, N> load_pack(const T* p) {
  return *reinterpret_cast<const Pack<T, N>*>(p);
}
template <typename T, int N> __device__ __forceinline__ void store_pack(T* p, const Pack<T, N>& x) {
  *reinterpret_cast<Pack<T, N>*>(p) = x;
}
// The one thread of the grid (block 0) that handles tail element `groups * N + k`, k < N.
__device__ __forceinline__ int64_t tail_index(int64_t groups, int N) {
  return groups * N + blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }
template <typename... Ps> bool all_aligned16(const Ps*... ps) { return (aligned16(ps) && ...); }

// Applies f(dst[i], src...) over n elements in N-wide packs, then the tail.
template <typename T, int N> __global__ void fill_kernel(T* dst, int64_t n, float value) {
  const int64_t groups = n / N;
  Pack<T, N> x;
#pragma unroll
  for (int k = 0; k < N; ++k) x.v[k] = from_float<T>(value);
  PRIMUS_GRID_STRIDE(g, groups) store_pack<T, N>(dst + g * N, x);
  const int64_t t = tail_index(groups, N);
  if (t < n) dst[t] = from_float<T>(value);
}
__global__ void fill_int_kernel(int32_t* dst, int64_t n, int32_t value) {
  PRIMUS_GRID_STRIDE(i, n) dst[i] = value;
}
template <typename D, typename S, int N> __global__ void convert_kernel(D* dst, const S* src, int64_t n) {
  const int64_t groups = n / N;
  PRIMUS_GRID_STRIDE(g, groups) {
    const Pack<S, N> x = load_pack<S, N>(src + g * N);
    Pack<D, N> y;
#pragma unroll
    for (int k = 0; k < N; ++k) y.v[k] = from_float<D>(to_float(x.v[k]));
    store_pack<D, N>(dst + g * N, y);
  }
  const int64_t t = tail_index(groups, N);
  if (t < n) dst[t] = from_float<D>(to_float(src[t]));
}
template <typename T, int N> __global__ void scale_kernel(T* t, int64_t n, float value) {
  const int64_t groups = n / N;
  PRIMUS_GRID_STRIDE(g, groups) {
    Pack<T, N> x = load_pack<T, N>(t + g * N);
#pragma unroll
    for (int k = 0; k < N; ++k) x.v[k] = from_float<T>(to_float(x.v[k]) * value);
    store_pack<T, N>(t + g * N, x);
  }
  const int64_t i = tail_index(groups, N);
  if (i < n) t[i] = from_float<T>(to_float(t[i]) * value);
}

// GELU (tanh approximation) written as x * sigmoid(2u), 0.5 * (1 + tanh(u)) = sigmoid(2u): one
// exponential, and no cancellation in the negative tail.
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2/pi)
__device__ __forceinline__ float sigmoid(float z) { return 1.0f / (1.0f + __expf(-z)); }
__device__ __forceinline__ float gelu(float x) {
  return x * sigmoid(2.0f * kGeluScale * (x + 0.044715f * x * x * x));
}
__device__ __forceinline__ float gelu_grad(float x) {
  const float sig = sigmoid(2.0f * kGeluScale * (x + 0.044715f * x * x * x));
  return sig + 2.0f * x * sig * (1.0f - sig) * kGeluScale * (1.0f + 3.0f * 0.044715f * x * x);
}

template <typename T, int N> __global__ void gelu_forward_kernel(T* out, const T* inp, int64_t n) {
  const int64_t groups = n / N;
  PRIMUS_GRID_STRIDE(g, groups) {
    const Pack<T, N> x = load_pack<T, N>(inp + g * N);
    Pack<T, N> y;
#pragma unroll
    for (int k = 0; k < N; ++k) y.v[k] = from_float<T>(gelu(to_float(x.v[k])));
    store_pack<T, N>(out + g * N, y);
  }
  const int64_t t = tail_index(groups, N);
  if (t < n) out[t] = from_float<T>(gelu(to_float(inp[t])));
}
template <typename T, int N>
__global__ void gelu_backward_kernel(T* dinp, const T* dout, const T* inp, int64_t n) {
  const int64_t groups = n / N;
  PRIMUS_GRID_STRIDE(g, groups) {
    const Pack<T, N> x = load_pack<T, N>(inp + g * N), d = load_pack<T, N>(dout + g * N);
    Pack<T, N> y;
#pragma unroll
    for (int k = 0; k < N; ++k) y.v[k] = from_float<T>(gelu_grad(to_float(x.v[k])) * to_float(d.v[k]));
    store_pack<T, N>(dinp + g * N, y);
  }
  const int64_t t = tail_index(groups, N);
  if (t < n) dinp[t] = from_float<T>(gelu_grad(to_float(inp[t])) * to_float(dout[t]));
}

// SwiGLU over rows: blockIdx.y strides over rows, x over the FF / N packs of a row.
template <typename T, int N> __global__ void swiglu_forward_kernel(T* out, const T* inp, int64_t rows, int64_t FF) {
  const int64_t c = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) * N;
  if (c >= FF) return;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const Pack<T, N> g = load_pack<T, N>(inp + r * 2 * FF + c), u = load_pack<T, N>(inp + r * 2 * FF + FF + c);
    Pack<T, N> y;
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const float gf = to_float(g.v[k]);
      y.v[k] = from_float<T>(gf * sigmoid(gf) * to_float(u.v[k]));
    }
    store_pack<T, N>(out + r * FF + c, y);
  }
}
template <typename T, int N>
__global__ void swiglu_backward_kernel(T* dinp, const T* dout, const T* inp, int64_t rows, int64_t FF) {
  const int64_t c = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) * N;
  if (c >= FF) return;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t gi = r * 2 * FF + c, ui = gi + FF;
    const Pack<T, N> g = load_pack<T, N>(inp + gi), u = load_pack<T, N>(inp + ui), d = load_pack<T, N>(dout + r * FF + c);
    Pack<T, N> dg, du;
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const float gf = to_float(g.v[k]), uf = to_float(u.v[k]), df = to_float(d.v[k]);
      const float sig = sigmoid(gf);
      dg.v[k] = from_float<T>(df * uf * sig * (1.0f + gf * (1.0f - sig)));
      du.v[k] = from_float<T>(df * gf * sig);
    }
    store_pack<T, N>(dinp + gi, dg);
    store_pack<T, N>(dinp + ui, du);
  }
}

template <typename T, int N> __global__ void residual_forward_kernel(T* out, const T* a, const T* b, int64_t n) {
  const int64_t groups = n / N;
  PRIMUS_GRID_STRIDE(g, groups) {
    const Pack<T, N> x = load_pack<T, N>(a + g * N), y = load_pack<T, N>(b + g * N);
    Pack<T, N> z;
#pragma unroll
    for (int k = 0; k < N; ++k) z.v[k] = from_float<T>(to_float(x.v[k]) + to_float(y.v[k]));
    store_pack<T, N>(out + g * N, z);
  }
  const int64_t t = tail_index(groups, N);
  if (t < n) out[t] = from_float<T>(to_float(a[t]) + to_float(b[t]));
}

// One thread per (row, head, N consecutive pairs i of the half): element i pairs with i + HS/2.
// q and k heads rotate (backward: by the inverse angle); v heads are copied.
template <typename T, bool kBackward, int N>
__global__ void rope_kernel(T* out, const T* inp, const float* cos, const float* sin, int64_t B, int64_t T_,
                            int64_t NH, int64_t NKV, int64_t HS) {
  const int64_t half = HS / 2, packs = half / N, heads = NH + 2 * NKV;
  PRIMUS_GRID_STRIDE(idx, B * T_ * heads * packs) {
    const int64_t i = (idx % packs) * N;
    const int64_t h = (idx / packs) % heads;
    const int64_t row = idx / (packs * heads);
    const int64_t t = row % T_;
    const int64_t base = row * heads * HS + h * HS + i;
    const Pack<T, N> x1 = load_pack<T, N>(inp + base), x2 = load_pack<T, N>(inp + base + half);
    Pack<T, N> o1, o2;
    const bool rotate = h < NH + NKV;
    Pack<float, N> c, s;
    if (rotate) c = load_pack<float, N>(cos + t * half + i), s = load_pack<float, N>(sin + t * half + i);
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const float a = to_float(x1.v[k]), b = to_float(x2.v[k]);
      float y1 = a, y2 = b;
      if (rotate) {
        if (kBackward) { y1 = a * c.v[k] + b * s.v[k]; y2 = b * c.v[k] - a * s.v[k]; }
        else { y1 = a * c.v[k] - b * s.v[k]; y2 = b * c.v[k] + a * s.v[k]; }
      }
      o1.v[k] = from_float<T>(y1);
      o2.v[k] = from_float<T>(y2);
    }
    store_pack<T, N>(out + base, o1);
    store_pack<T, N>(out + base + half, o2);
  }
}

// Launches kernel<T, VEC> where every pointer is 16-byte aligned, else kernel<T, 1>.
#define PRIMUS_LAUNCH_PACKED(T, ALIGNED, KERNEL, GRID_N, ...)                                          \
  do {                                                                                                  \
    constexpr int kVec = 16 / sizeof(T);                                                                \
    if (ALIGNED)                                                                                        \
      KERNEL<T, kVec><<<grid_for((GRID_N) / kVec + 1, kBlock, 132 * 16), kBlock, 0, s>>>(__VA_ARGS__);  \
    else                                                                                                \
      KERNEL<T, 1><<<grid_for(GRID_N, kBlock, 132 * 16), kBlock, 0, s>>>(__VA_ARGS__);                  \
  } while (0)

dim3 swiglu_grid(int64_t rows, int64_t FF, int vec) {
  const int64_t packs = FF / vec;
  return dim3(static_cast<unsigned>((packs + kBlock - 1) / kBlock), static_cast<unsigned>(rows < 65535 ? rows : 65535));
}

}  // namespace

void fill_launch(void* dst, DType dt, int64_t n, float value, cudaStream_t s) {
  if (n == 0) return;
  if (value == 0.0f) {  // +0.0 is all zero bits in int32, fp32 and bf16
    PRIMUS_CUDA_CHECK(cudaMemsetAsync(dst, 0, static_cast<size_t>(n) * dtype_size(dt), s));
    return;
  }
  if (dt == DType::kI32) {
    fill_int_kernel<<<grid_for(n, kBlock), kBlock, 0, s>>>(static_cast<int32_t*>(dst), n, static_cast<int32_t>(value));
    PRIMUS_CUDA_CHECK_LAUNCH();
    return;
  }
  PRIMUS_DISPATCH_FLOAT(dt, T, PRIMUS_LAUNCH_PACKED(T, aligned16(dst), fill_kernel, n, static_cast<T*>(dst), n, value));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void convert_launch(void* dst, DType dst_dt, const void* src, DType src_dt, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  const bool aligned = all_aligned16(dst, src);
  PRIMUS_DISPATCH_FLOAT(dst_dt, D, PRIMUS_DISPATCH_FLOAT(src_dt, S, {
    if (aligned)
      convert_kernel<D, S, 4><<<grid_for(n / 4 + 1, kBlock, 132 * 16), kBlock, 0, s>>>(
          static_cast<D*>(dst), static_cast<const S*>(src), n);
    else
      convert_kernel<D, S, 1><<<grid_for(n, kBlock, 132 * 16), kBlock, 0, s>>>(static_cast<D*>(dst),
                                                                               static_cast<const S*>(src), n);
  }));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void scale_launch(void* t, DType dt, int64_t n, float value, cudaStream_t s) {
  if (n == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, T, PRIMUS_LAUNCH_PACKED(T, aligned16(t), scale_kernel, n, static_cast<T*>(t), n, value));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void gelu_forward_launch(void* out, const void* inp, DType dt, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, T, PRIMUS_LAUNCH_PACKED(T, all_aligned16(out, inp), gelu_forward_kernel, n,
                                                    static_cast<T*>(out), static_cast<const T*>(inp), n));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void gelu_backward_launch(void* dinp, const void* dout, const void* inp, DType dt, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, T, PRIMUS_LAUNCH_PACKED(T, all_aligned16(dinp, dout, inp), gelu_backward_kernel, n,
                                                    static_cast<T*>(dinp), static_cast<const T*>(dout),
                                                    static_cast<const T*>(inp), n));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void swiglu_forward_launch(void* out, const void* inp, DType dt, int64_t N, int64_t FF, cudaStream_t s) {
  if (N * FF == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, T, {
    constexpr int kVec = 16 / sizeof(T);
    if (FF % kVec == 0 && all_aligned16(out, inp))
      swiglu_forward_kernel<T, kVec><<<swiglu_grid(N, FF, kVec), kBlock, 0, s>>>(static_cast<T*>(out),
                                                                                static_cast<const T*>(inp), N, FF);
    else
      swiglu_forward_kernel<T, 1><<<swiglu_grid(N, FF, 1), kBlock, 0, s>>>(static_cast<T*>(out),
                                                                          static_cast<const T*>(inp), N, FF);
  });
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void swiglu_backward_launch(void* dinp, const void* dout, const void* inp, DType dt, int64_t N, int64_t FF,
                            cudaStream_t s) {
  if (N * FF == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, T, {
    constexpr int kVec = 16 / sizeof(T);
    if (FF % kVec == 0 && all_aligned16(dinp, dout, inp))
      swiglu_backward_kernel<T, kVec><<<swiglu_grid(N, FF, kVec), kBlock, 0, s>>>(
          static_cast<T*>(dinp), static_cast<const T*>(dout), static_cast<const T*>(inp), N, FF);
    else
      swiglu_backward_kernel<T, 1><<<swiglu_grid(N, FF, 1), kBlock, 0, s>>>(
          static_cast<T*>(dinp), static_cast<const T*>(dout), static_cast<const T*>(inp), N, FF);
  });
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void residual_forward_launch(void* out, const void* a, const void* b, DType dt, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, T, PRIMUS_LAUNCH_PACKED(T, all_aligned16(out, a, b), residual_forward_kernel, n,
                                                    static_cast<T*>(out), static_cast<const T*>(a),
                                                    static_cast<const T*>(b), n));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void accumulate_launch(void* dst, const void* src, DType dt, int64_t n, cudaStream_t s) {
  residual_forward_launch(dst, dst, src, dt, n, s);   // dst = dst + src
}

namespace {
template <bool kBackward>
void rope_launch(void* out, const void* inp, const float* cos, const float* sin, DType dt, int64_t B, int64_t T,
                 int64_t NH, int64_t NKV, int64_t HS, cudaStream_t s) {
  const int64_t n = B * T * (NH + 2 * NKV) * (HS / 2);
  if (n == 0) return;
  // 4 pairs a thread: 8-byte bf16 or 16-byte fp32 accesses, and one float4 of each table.
  const bool packed = (HS / 2) % 4 == 0 && all_aligned16(out, inp, cos, sin);
  PRIMUS_DISPATCH_FLOAT(dt, E, {
    if (packed)
      rope_kernel<E, kBackward, 4><<<grid_for(n / 4, kBlock, 132 * 16), kBlock, 0, s>>>(
          static_cast<E*>(out), static_cast<const E*>(inp), cos, sin, B, T, NH, NKV, HS);
    else
      rope_kernel<E, kBackward, 1><<<grid_for(n, kBlock, 132 * 16), kBlock, 0, s>>>(
          static_cast<E*>(out), static_cast<const E*>(inp), cos, sin, B, T, NH, NKV, HS);
  });
  PRIMUS_CUDA_CHECK_LAUNCH();
}
}  // namespace

void rope_forward_launch(void* out, const void* inp, const float* cos, const float* sin, DType dt, int64_t B,
                         int64_t T, int64_t NH, int64_t NKV, int64_t HS, cudaStream_t s) {
  rope_launch<false>(out, inp, cos, sin, dt, B, T, NH, NKV, HS, s);
}

void rope_backward_launch(void* dinp, const void* dout, const float* cos, const float* sin, DType dt, int64_t B,
                          int64_t T, int64_t NH, int64_t NKV, int64_t HS, cudaStream_t s) {
  rope_launch<true>(dinp, dout, cos, sin, dt, B, T, NH, NKV, HS, s);
}

}  // namespace primus::cuda
