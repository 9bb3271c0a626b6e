// Elementwise kernels: fill, convert, scale, GELU (tanh), SwiGLU, residual, accumulate, RoPE
// (rotate-half over packed qkv). Grid-stride loops, fp32 arithmetic; backward passes accumulate.
#include "cuda/device_utils.cuh"
#include "cuda/kernels.h"

namespace primus::cuda {
namespace {

constexpr int kBlock = 256;

#define PRIMUS_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

template <typename T> __global__ void fill_kernel(T* dst, int64_t n, float value) {
  PRIMUS_GRID_STRIDE(i, n) dst[i] = from_float<T>(value);
}
__global__ void fill_int_kernel(int32_t* dst, int64_t n, int32_t value) {
  PRIMUS_GRID_STRIDE(i, n) dst[i] = value;
}
template <typename D, typename S> __global__ void convert_kernel(D* dst, const S* src, int64_t n) {
  PRIMUS_GRID_STRIDE(i, n) dst[i] = from_float<D>(to_float(src[i]));
}
template <typename T> __global__ void scale_kernel(T* t, int64_t n, float value) {
  PRIMUS_GRID_STRIDE(i, n) t[i] = from_float<T>(to_float(t[i]) * value);
}

constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2/pi)
template <typename T> __global__ void gelu_forward_kernel(T* out, const T* inp, int64_t n) {
  PRIMUS_GRID_STRIDE(i, n) {
    float x = to_float(inp[i]);
    float u = kGeluScale * (x + 0.044715f * x * x * x);
    out[i] = from_float<T>(0.5f * x * (1.0f + tanhf(u)));
  }
}
template <typename T> __global__ void gelu_backward_kernel(T* dinp, const T* dout, const T* inp, int64_t n) {
  PRIMUS_GRID_STRIDE(i, n) {
    float x = to_float(inp[i]);
    float u = kGeluScale * (x + 0.044715f * x * x * x);
    float th = tanhf(u);
    float sech2 = 1.0f - th * th;
    float grad = 0.5f * (1.0f + th) + 0.5f * x * sech2 * kGeluScale * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] = from_float<T>(to_float(dinp[i]) + grad * to_float(dout[i]));
  }
}

template <typename T> __global__ void swiglu_forward_kernel(T* out, const T* inp, int64_t N, int64_t FF) {
  PRIMUS_GRID_STRIDE(i, N * FF) {
    int64_t row = i / FF, col = i % FF;
    float g = to_float(inp[row * 2 * FF + col]);
    float u = to_float(inp[row * 2 * FF + FF + col]);
    out[i] = from_float<T>(g / (1.0f + expf(-g)) * u);
  }
}
template <typename T>
__global__ void swiglu_backward_kernel(T* dinp, const T* dout, const T* inp, int64_t N, int64_t FF) {
  PRIMUS_GRID_STRIDE(i, N * FF) {
    int64_t row = i / FF, col = i % FF;
    int64_t gi = row * 2 * FF + col, ui = gi + FF;
    float g = to_float(inp[gi]), u = to_float(inp[ui]), d = to_float(dout[i]);
    float sig = 1.0f / (1.0f + expf(-g));
    float silu = g * sig;
    dinp[gi] = from_float<T>(to_float(dinp[gi]) + d * u * sig * (1.0f + g * (1.0f - sig)));
    dinp[ui] = from_float<T>(to_float(dinp[ui]) + d * silu);
  }
}

template <typename T> __global__ void residual_forward_kernel(T* out, const T* a, const T* b, int64_t n) {
  PRIMUS_GRID_STRIDE(i, n) out[i] = from_float<T>(to_float(a[i]) + to_float(b[i]));
}
template <typename T> __global__ void accumulate_kernel(T* dst, const T* src, int64_t n) {
  PRIMUS_GRID_STRIDE(i, n) dst[i] = from_float<T>(to_float(dst[i]) + to_float(src[i]));
}

// One thread per (row, head, pair i of the half): element i pairs with i + HS/2. q and k heads
// rotate; v heads are copied (forward) or accumulated (backward). sign = -1 applies the inverse.
template <typename T, bool kBackward>
__global__ void rope_kernel(T* out, const T* inp, const float* cos, const float* sin, int64_t B,
                            int64_t T_, int64_t NH, int64_t NKV, int64_t HS) {
  const int64_t half = HS / 2, heads = NH + 2 * NKV;
  PRIMUS_GRID_STRIDE(idx, B * T_ * heads * half) {
    int64_t i = idx % half;
    int64_t h = (idx / half) % heads;
    int64_t row = idx / (half * heads);
    int64_t t = row % T_;
    int64_t base = row * heads * HS + h * HS;
    float x1 = to_float(inp[base + i]), x2 = to_float(inp[base + i + half]);
    float y1 = x1, y2 = x2;
    if (h < NH + NKV) {
      float c = cos[t * half + i], s = sin[t * half + i];
      if (kBackward) { y1 = x1 * c + x2 * s; y2 = x2 * c - x1 * s; }
      else { y1 = x1 * c - x2 * s; y2 = x2 * c + x1 * s; }
    }
    if (kBackward) { y1 += to_float(out[base + i]); y2 += to_float(out[base + i + half]); }
    out[base + i] = from_float<T>(y1);
    out[base + i + half] = from_float<T>(y2);
  }
}

}  // namespace

void fill_launch(void* dst, DType dt, int64_t n, float value, cudaStream_t s) {
  if (n == 0) return;
  if (dt == DType::kI32) {
    fill_int_kernel<<<grid_for(n, kBlock), kBlock, 0, s>>>(static_cast<int32_t*>(dst), n, static_cast<int32_t>(value));
    PRIMUS_CUDA_CHECK_LAUNCH();
    return;
  }
  PRIMUS_DISPATCH_FLOAT(dt, T, fill_kernel<T><<<grid_for(n, kBlock), kBlock, 0, s>>>(static_cast<T*>(dst), n, value));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void convert_launch(void* dst, DType dst_dt, const void* src, DType src_dt, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  PRIMUS_DISPATCH_FLOAT(dst_dt, D, PRIMUS_DISPATCH_FLOAT(src_dt, S,
      convert_kernel<D, S><<<grid_for(n, kBlock), kBlock, 0, s>>>(static_cast<D*>(dst), static_cast<const S*>(src), n)));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void scale_launch(void* t, DType dt, int64_t n, float value, cudaStream_t s) {
  if (n == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, T, scale_kernel<T><<<grid_for(n, kBlock), kBlock, 0, s>>>(static_cast<T*>(t), n, value));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void gelu_forward_launch(void* out, const void* inp, DType dt, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, T, gelu_forward_kernel<T><<<grid_for(n, kBlock), kBlock, 0, s>>>(
      static_cast<T*>(out), static_cast<const T*>(inp), n));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void gelu_backward_launch(void* dinp, const void* dout, const void* inp, DType dt, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, T, gelu_backward_kernel<T><<<grid_for(n, kBlock), kBlock, 0, s>>>(
      static_cast<T*>(dinp), static_cast<const T*>(dout), static_cast<const T*>(inp), n));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void swiglu_forward_launch(void* out, const void* inp, DType dt, int64_t N, int64_t FF, cudaStream_t s) {
  if (N * FF == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, T, swiglu_forward_kernel<T><<<grid_for(N * FF, kBlock), kBlock, 0, s>>>(
      static_cast<T*>(out), static_cast<const T*>(inp), N, FF));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void swiglu_backward_launch(void* dinp, const void* dout, const void* inp, DType dt, int64_t N, int64_t FF,
                            cudaStream_t s) {
  if (N * FF == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, T, swiglu_backward_kernel<T><<<grid_for(N * FF, kBlock), kBlock, 0, s>>>(
      static_cast<T*>(dinp), static_cast<const T*>(dout), static_cast<const T*>(inp), N, FF));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void residual_forward_launch(void* out, const void* a, const void* b, DType dt, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, T, residual_forward_kernel<T><<<grid_for(n, kBlock), kBlock, 0, s>>>(
      static_cast<T*>(out), static_cast<const T*>(a), static_cast<const T*>(b), n));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void accumulate_launch(void* dst, const void* src, DType dt, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, T, accumulate_kernel<T><<<grid_for(n, kBlock), kBlock, 0, s>>>(
      static_cast<T*>(dst), static_cast<const T*>(src), n));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void rope_forward_launch(void* out, const void* inp, const float* cos, const float* sin, DType dt, int64_t B,
                         int64_t T, int64_t NH, int64_t NKV, int64_t HS, cudaStream_t s) {
  int64_t n = B * T * (NH + 2 * NKV) * (HS / 2);
  if (n == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, rope_kernel<E, false><<<grid_for(n, kBlock), kBlock, 0, s>>>(
      static_cast<E*>(out), static_cast<const E*>(inp), cos, sin, B, T, NH, NKV, HS));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void rope_backward_launch(void* dinp, const void* dout, const float* cos, const float* sin, DType dt, int64_t B,
                          int64_t T, int64_t NH, int64_t NKV, int64_t HS, cudaStream_t s) {
  int64_t n = B * T * (NH + 2 * NKV) * (HS / 2);
  if (n == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, rope_kernel<E, true><<<grid_for(n, kBlock), kBlock, 0, s>>>(
      static_cast<E*>(dinp), static_cast<const E*>(dout), cos, sin, B, T, NH, NKV, HS));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

}  // namespace primus::cuda
