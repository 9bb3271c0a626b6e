// LayerNorm and RMSNorm, forward and backward, plus the column sums that give dweight and dbias
// (also the matmul's dbias), in fp32 or the activations' dtype. Statistics are fp32. One warp per row; column sums in two passes
// (partial sums over row splits, then a fixed-order sum of the partials: deterministic).
#include "cuda/device_utils.cuh"
#include "cuda/kernels.h"

namespace primus::cuda {
namespace {

constexpr int kRowsPerBlock = 8;  // one warp per row

template <typename T, bool kLayerNorm>
__global__ void norm_forward_kernel(T* out, float* mean_out, float* rstd_out, const T* inp, const T* weight,
                                    const T* bias, int64_t N, int64_t C, float eps) {
  const int64_t row = blockIdx.x * (int64_t)kRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const T* x = inp + row * C;
  float mean = 0.0f;
  if (kLayerNorm) {
    float sum = 0.0f;
    for (int64_t c = lane; c < C; c += 32) sum += to_float(x[c]);
    mean = warp_sum(sum) / C;
  }
  float sq = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    float d = to_float(x[c]) - mean;
    sq += d * d;
  }
  const float rstd = rsqrtf(warp_sum(sq) / C + eps);
  T* y = out + row * C;
  for (int64_t c = lane; c < C; c += 32) {
    float v = (to_float(x[c]) - mean) * rstd * to_float(weight[c]);
    if (kLayerNorm && bias) v += to_float(bias[c]);
    y[c] = from_float<T>(v);
  }
  if (lane == 0) {
    if (kLayerNorm) mean_out[row] = mean;
    rstd_out[row] = rstd;
  }
}

// res = a + b (rounded to T, as a separate residual op would store it), then the norm of res, in
// one pass per row; res may alias a or b (each element is read and written by the same thread).
template <typename T, bool kLayerNorm>
__global__ void residual_norm_forward_kernel(T* res, T* out, float* mean_out, float* rstd_out, const T* a,
                                             const T* b, const T* weight, const T* bias, int64_t N, int64_t C,
                                             float eps) {
  const int64_t row = blockIdx.x * (int64_t)kRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  T* x = res + row * C;
  const T* xa = a + row * C;
  const T* xb = b + row * C;
  float sum = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const T v = from_float<T>(to_float(xa[c]) + to_float(xb[c]));
    x[c] = v;
    sum += to_float(v);
  }
  const float mean = kLayerNorm ? warp_sum(sum) / C : 0.0f;
  float sq = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    float d = to_float(x[c]) - mean;
    sq += d * d;
  }
  const float rstd = rsqrtf(warp_sum(sq) / C + eps);
  T* y = out + row * C;
  for (int64_t c = lane; c < C; c += 32) {
    float v = (to_float(x[c]) - mean) * rstd * to_float(weight[c]);
    if (kLayerNorm && bias) v += to_float(bias[c]);
    y[c] = from_float<T>(v);
  }
  if (lane == 0) {
    if (kLayerNorm) mean_out[row] = mean;
    rstd_out[row] = rstd;
  }
}

// dinp += rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dout * weight
// (RMSNorm: no mean(dxhat) term, xhat = x * rstd).
template <typename T>
__global__ void norm_backward_input_kernel(T* dinp, const T* dout, const T* inp, const T* weight,
                                           const float* mean, const float* rstd, int64_t N, int64_t C) {
  const int64_t row = blockIdx.x * (int64_t)kRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const T* x = inp + row * C;
  const T* dy = dout + row * C;
  const float mu = mean ? mean[row] : 0.0f, rs = rstd[row];
  float sum_d = 0.0f, sum_dx = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    float dxhat = to_float(dy[c]) * to_float(weight[c]);
    sum_d += dxhat;
    sum_dx += dxhat * (to_float(x[c]) - mu) * rs;
  }
  const float mean_d = mean ? warp_sum(sum_d) / C : 0.0f;
  const float mean_dx = warp_sum(sum_dx) / C;
  T* dx = dinp + row * C;
  for (int64_t c = lane; c < C; c += 32) {
    float dxhat = to_float(dy[c]) * to_float(weight[c]);
    float xhat = (to_float(x[c]) - mu) * rs;
    dx[c] = from_float<T>(to_float(dx[c]) + rs * (dxhat - mean_d - xhat * mean_dx));
  }
}

int64_t column_splits(int64_t N) {
  int64_t s = (N + 63) / 64;
  return s < 1 ? 1 : (s > 256 ? 256 : s);
}

// partial_w[s][c] = sum over rows of split s of dout * xhat (if inp), partial_b[s][c] = of dout.
template <typename T>
__global__ void column_partials_kernel(float* partial_w, float* partial_b, const T* dout, const T* inp,
                                       const float* mean, const float* rstd, int64_t N, int64_t C) {
  const int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  const int64_t splits = gridDim.y, rows = (N + splits - 1) / splits;
  const int64_t r0 = blockIdx.y * rows, r1 = r0 + rows < N ? r0 + rows : N;
  float w = 0.0f, b = 0.0f;
  for (int64_t r = r0; r < r1; ++r) {
    float d = to_float(dout[r * C + c]);
    b += d;
    if (inp) w += d * (to_float(inp[r * C + c]) - (mean ? mean[r] : 0.0f)) * rstd[r];
  }
  if (partial_w) partial_w[blockIdx.y * C + c] = w;
  if (partial_b) partial_b[blockIdx.y * C + c] = b;
}

template <typename G>
__global__ void column_finalize_kernel(G* dst, const float* partial, int64_t splits, int64_t C) {
  const int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  float acc = 0.0f;
  for (int64_t s = 0; s < splits; ++s) acc += partial[s * C + c];
  dst[c] = from_float<G>(to_float(dst[c]) + acc);
}

// T: dtype of dout and inp; G: dtype of dweight and dbias (fp32 gradients of a bf16 model).
template <typename T, typename G>
void column_sums(G* dweight, G* dbias, const T* dout, const T* inp, const float* mean, const float* rstd,
                 int64_t N, int64_t C, float* workspace, cudaStream_t s) {
  const int64_t splits = column_splits(N);
  float* pw = dweight ? workspace : nullptr;
  float* pb = dbias ? workspace + splits * C : nullptr;
  const unsigned cols = static_cast<unsigned>((C + 255) / 256);
  column_partials_kernel<T><<<dim3(cols, static_cast<unsigned>(splits)), 256, 0, s>>>(
      pw, pb, dout, dweight ? inp : nullptr, mean, rstd, N, C);
  PRIMUS_CUDA_CHECK_LAUNCH();
  if (dweight) column_finalize_kernel<G><<<cols, 256, 0, s>>>(dweight, pw, splits, C);
  PRIMUS_CUDA_CHECK_LAUNCH();
  if (dbias) column_finalize_kernel<G><<<cols, 256, 0, s>>>(dbias, pb, splits, C);
  PRIMUS_CUDA_CHECK_LAUNCH();
}

unsigned row_blocks(int64_t N) { return static_cast<unsigned>((N + kRowsPerBlock - 1) / kRowsPerBlock); }

}  // namespace

void layernorm_forward_launch(void* out, float* mean, float* rstd, const void* inp, const void* weight,
                              const void* bias, DType dt, int64_t N, int64_t C, float eps, cudaStream_t s) {
  if (N == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, norm_forward_kernel<E, true><<<row_blocks(N), 32 * kRowsPerBlock, 0, s>>>(
      static_cast<E*>(out), mean, rstd, static_cast<const E*>(inp), static_cast<const E*>(weight),
      static_cast<const E*>(bias), N, C, eps));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void rmsnorm_forward_launch(void* out, float* rstd, const void* inp, const void* weight, DType dt, int64_t N,
                            int64_t C, float eps, cudaStream_t s) {
  if (N == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, norm_forward_kernel<E, false><<<row_blocks(N), 32 * kRowsPerBlock, 0, s>>>(
      static_cast<E*>(out), nullptr, rstd, static_cast<const E*>(inp), static_cast<const E*>(weight), nullptr,
      N, C, eps));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void residual_norm_forward_launch(void* res, void* out, float* mean, float* rstd, const void* a, const void* b,
                                  const void* weight, const void* bias, DType dt, int64_t N, int64_t C, float eps,
                                  cudaStream_t s) {
  if (N == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, {
    if (mean) {
      residual_norm_forward_kernel<E, true><<<row_blocks(N), 32 * kRowsPerBlock, 0, s>>>(
          static_cast<E*>(res), static_cast<E*>(out), mean, rstd, static_cast<const E*>(a), static_cast<const E*>(b),
          static_cast<const E*>(weight), static_cast<const E*>(bias), N, C, eps);
    } else {
      residual_norm_forward_kernel<E, false><<<row_blocks(N), 32 * kRowsPerBlock, 0, s>>>(
          static_cast<E*>(res), static_cast<E*>(out), nullptr, rstd, static_cast<const E*>(a),
          static_cast<const E*>(b), static_cast<const E*>(weight), nullptr, N, C, eps);
    }
  });
  PRIMUS_CUDA_CHECK_LAUNCH();
}

size_t column_sum_workspace_bytes(int64_t N, int64_t C) {
  return static_cast<size_t>(2 * column_splits(N) * C) * sizeof(float);
}

void norm_backward_launch(void* dinp, void* dweight, void* dbias, const void* dout, const void* inp,
                          const void* weight, const float* mean, const float* rstd, DType dt, DType grad_dt,
                          int64_t N, int64_t C, float* workspace, cudaStream_t s) {
  if (N == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, {
    if (dinp) {
      norm_backward_input_kernel<E><<<row_blocks(N), 32 * kRowsPerBlock, 0, s>>>(
          static_cast<E*>(dinp), static_cast<const E*>(dout), static_cast<const E*>(inp),
          static_cast<const E*>(weight), mean, rstd, N, C);
      PRIMUS_CUDA_CHECK_LAUNCH();
    }
    if (dweight || dbias)
      PRIMUS_DISPATCH_FLOAT(grad_dt, G, column_sums<E, G>(static_cast<G*>(dweight), static_cast<G*>(dbias),
                                                          static_cast<const E*>(dout), static_cast<const E*>(inp),
                                                          mean, rstd, N, C, workspace, s));
  });
}

void bias_backward_launch(void* dbias, const void* dout, DType dt, DType grad_dt, int64_t N, int64_t C,
                          float* workspace, cudaStream_t s) {
  if (N == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, PRIMUS_DISPATCH_FLOAT(grad_dt, G, column_sums<E, G>(
      nullptr, static_cast<G*>(dbias), static_cast<const E*>(dout), nullptr, nullptr, nullptr, N, C, workspace, s)));
}

}  // namespace primus::cuda
