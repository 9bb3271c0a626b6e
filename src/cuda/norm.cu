// LayerNorm and RMSNorm, forward (also fused with the residual add) and backward, plus the column
// sums that give dweight and dbias (also the matmul's dbias). Statistics and arithmetic are fp32;
// dinp, dweight and dbias accumulate (+=). Rows whose width allows it (C a multiple of 16 bytes,
// 16-byte aligned pointers, C up to 8192 bf16 / 4096 fp32) run row-resident kernels: a row is read
// once into registers with 16-byte loads, split over one warp or several; the backward also sums
// dweight/dbias over its rows in registers and writes one partial row per block. Column sums end
// with a fixed-order sum of the partials (deterministic). Other widths run one-warp-per-row kernels
// (also chosen by PRIMUS_NORM_GENERIC=1, for comparisons).
#include <cstdlib>
#include <type_traits>

#include "cuda/column_sums.h"
#include "cuda/kernels.h"
#include "cuda/vec16.cuh"

namespace primus::cuda {
namespace {

// Sum of v over the tpr threads (a multiple of 32, consecutive) of one row; red holds one float2 per
// warp of the block. Every thread of the block must call it (it may synchronize the block).
__device__ __forceinline__ float2 row_sum(float2 v, int tpr, float2* red) {
  v.x = warp_sum(v.x);
  v.y = warp_sum(v.y);
  if (tpr == 32) return v;
  const int warp = threadIdx.x / 32, wpr = tpr / 32, first = warp / wpr * wpr;
  __syncthreads();  // red is free again (an earlier call's readers are done)
  if (threadIdx.x % 32 == 0) red[warp] = v;
  __syncthreads();
  float2 s = make_float2(0.0f, 0.0f);
  for (int w = first; w < first + wpr; ++w) s.x += red[w].x, s.y += red[w].y;
  return s;
}

// ---- row-resident kernels: thread t of a row holds the 16-byte vectors t, t + tpr, ... ----

// out = norm(x) * weight (+ bias), x = a, or (kResidual) x = res = a + b rounded to T as a separate
// residual op would store it (res may alias a or b: each element is read and written by one thread).
// mean_out == null selects RMSNorm.
template <typename T, int kVecs, bool kResidual>
__global__ void __launch_bounds__(256, 4)
    norm_forward_rows_kernel(T* res, T* out, float* mean_out, float* rstd_out, const T* a, const T* b,
                             const T* weight, const T* bias, int64_t N, int C, int tpr, float eps) {
  constexpr int kN = Vec16<T>::kN;
  __shared__ float2 red[32];
  const int nv = C / kN, t = threadIdx.x % tpr;
  const int64_t row = blockIdx.x * (int64_t)(blockDim.x / tpr) + threadIdx.x / tpr;
  const bool valid = row < N;
  const int64_t base = row * C;
  Vec16<T> x[kVecs];  // (kVecs, kN) of this thread's columns
#pragma unroll
  for (int k = 0; k < kVecs; ++k) {
    const int64_t at = base + (int64_t)(t + k * tpr) * kN;
    x[k] = zero16<T>();
    if (valid && t + k * tpr < nv) {
      x[k] = load16(a + at);
      if (kResidual) {
        const Vec16<T> y = load16(b + at);
#pragma unroll
        for (int j = 0; j < kN; ++j) x[k].v[j] = from_float<T>(to_float(x[k].v[j]) + to_float(y.v[j]));
      }
    }
  }
  if (kResidual) {
#pragma unroll
    for (int k = 0; k < kVecs; ++k)
      if (valid && t + k * tpr < nv) store16(res + base + (int64_t)(t + k * tpr) * kN, x[k]);
  }
  const bool layernorm = mean_out != nullptr;
  float mean = 0.0f;
  if (layernorm) {
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < kVecs; ++k)
#pragma unroll
      for (int j = 0; j < kN; ++j) sum += to_float(x[k].v[j]);
    mean = row_sum(make_float2(sum, 0.0f), tpr, red).x / C;
  }
  float sq = 0.0f;
#pragma unroll
  for (int k = 0; k < kVecs; ++k)
    if (t + k * tpr < nv)
#pragma unroll
      for (int j = 0; j < kN; ++j) {
        const float d = to_float(x[k].v[j]) - mean;
        sq += d * d;
      }
  const float rstd = rsqrtf(row_sum(make_float2(sq, 0.0f), tpr, red).x / C + eps);
#pragma unroll
  for (int k = 0; k < kVecs; ++k) {
    const int v = t + k * tpr;
    if (!valid || v >= nv) continue;
    const Vec16<T> w = load16(weight + (int64_t)v * kN);
    const Vec16<T> bb = layernorm && bias ? load16(bias + (int64_t)v * kN) : zero16<T>();
    Vec16<T> y;
#pragma unroll
    for (int j = 0; j < kN; ++j)
      y.v[j] = from_float<T>((to_float(x[k].v[j]) - mean) * rstd * to_float(w.v[j]) + to_float(bb.v[j]));
    store16(out + base + (int64_t)v * kN, y);
  }
  if (valid && t == 0) {
    if (layernorm) mean_out[row] = mean;
    rstd_out[row] = rstd;
  }
}

// dinp += rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dout * weight (RMSNorm,
// mean == null: no mean(dxhat) term, xhat = x * rstd); row i of partial_w/partial_b (P, C) gets this
// block's sums over its rows of dout * xhat and of dout. The grid (P blocks) strides over groups of
// blockDim.x / tpr rows; a thread keeps its columns, so its sums stay in registers. dinp may be null.
template <typename T, int kVecs>
__global__ void __launch_bounds__(512, kVecs == 1 ? 2 : 1)   // one vector a thread: 64 registers, more warps
    norm_backward_rows_kernel(T* dinp, float* partial_w, float* partial_b, const T* dout, const T* inp,
                              const T* weight, const float* mean, const float* rstd, int64_t N, int C, int tpr) {
  constexpr int kN = Vec16<T>::kN;
  extern __shared__ float4 col_smem[];  // (2, C) fp32 when a block holds several rows
  __shared__ float2 red[32];
  const int nv = C / kN, t = threadIdx.x % tpr, ry = threadIdx.x / tpr, R = blockDim.x / tpr;
  Vec16<T> w[kVecs];
  float acc_w[kVecs][kN], acc_b[kVecs][kN];
#pragma unroll
  for (int k = 0; k < kVecs; ++k) {
    w[k] = t + k * tpr < nv ? load16(weight + (int64_t)(t + k * tpr) * kN) : zero16<T>();
#pragma unroll
    for (int j = 0; j < kN; ++j) acc_w[k][j] = acc_b[k][j] = 0.0f;
  }
  const int64_t groups = (N + R - 1) / R;
  for (int64_t g = blockIdx.x; g < groups; g += gridDim.x) {
    const int64_t row = g * R + ry;
    const bool valid = row < N;
    const int64_t base = row * C;
    Vec16<T> dy[kVecs], x[kVecs], dx[kVecs];
#pragma unroll
    for (int k = 0; k < kVecs; ++k) {
      const bool ok = valid && t + k * tpr < nv;
      const int64_t at = base + (int64_t)(t + k * tpr) * kN;
      dy[k] = ok ? load16(dout + at) : zero16<T>();
      x[k] = ok ? load16(inp + at) : zero16<T>();
      dx[k] = ok && dinp ? load16(dinp + at) : zero16<T>();
    }
    const float mu = mean && valid ? mean[row] : 0.0f;
    const float rs = valid ? rstd[row] : 0.0f;
    float sum_d = 0.0f, sum_dx = 0.0f;
#pragma unroll
    for (int k = 0; k < kVecs; ++k)
#pragma unroll
      for (int j = 0; j < kN; ++j) {
        const float d = to_float(dy[k].v[j]), xhat = (to_float(x[k].v[j]) - mu) * rs;
        const float dxhat = d * to_float(w[k].v[j]);
        sum_d += dxhat;
        sum_dx += dxhat * xhat;
        acc_w[k][j] += d * xhat;
        acc_b[k][j] += d;
      }
    const float2 s = row_sum(make_float2(sum_d, sum_dx), tpr, red);
    const float mean_d = mean ? s.x / C : 0.0f, mean_dx = s.y / C;
    if (!dinp) continue;
#pragma unroll
    for (int k = 0; k < kVecs; ++k) {
      if (!valid || t + k * tpr >= nv) continue;
#pragma unroll
      for (int j = 0; j < kN; ++j) {
        const float xhat = (to_float(x[k].v[j]) - mu) * rs, dxhat = to_float(dy[k].v[j]) * to_float(w[k].v[j]);
        dx[k].v[j] = from_float<T>(to_float(dx[k].v[j]) + rs * (dxhat - mean_d - xhat * mean_dx));
      }
      store16(dinp + base + (int64_t)(t + k * tpr) * kN, dx[k]);
    }
  }
  if (!partial_w && !partial_b) return;
  // Row slots 0 .. R-2 add theirs into shared memory in turn; slot R-1 adds its own and writes.
  float* sm = reinterpret_cast<float*>(col_smem);
  for (int slot = 0; slot + 1 < R; ++slot) {
    if (ry == slot)
#pragma unroll
      for (int k = 0; k < kVecs; ++k)
        if (t + k * tpr < nv)
#pragma unroll
          for (int j = 0; j < kN; ++j) {
            const int c = (t + k * tpr) * kN + j;
            sm[c] = (slot ? sm[c] : 0.0f) + acc_w[k][j];
            sm[C + c] = (slot ? sm[C + c] : 0.0f) + acc_b[k][j];
          }
    __syncthreads();
  }
  if (ry != R - 1) return;
#pragma unroll
  for (int k = 0; k < kVecs; ++k)
    if (t + k * tpr < nv)
#pragma unroll
      for (int j = 0; j < kN; ++j) {
        const int c = (t + k * tpr) * kN + j;
        if (partial_w) partial_w[blockIdx.x * (int64_t)C + c] = acc_w[k][j] + (R > 1 ? sm[c] : 0.0f);
        if (partial_b) partial_b[blockIdx.x * (int64_t)C + c] = acc_b[k][j] + (R > 1 ? sm[C + c] : 0.0f);
      }
}

// ---- generic kernels: one warp per row, any C ----

// Row `row` of the norm, its mean (0 for rmsnorm) known: the variance pass, the output and the
// statistics. One warp; x is the row's input.
template <typename T, bool kLayerNorm>
__device__ __forceinline__ void norm_row_from_mean(T* out, float* mean_out, float* rstd_out, const T* x, float mean,
                                                   const T* weight, const T* bias, int64_t row, int64_t C, float eps,
                                                   int lane) {
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

template <typename T, bool kLayerNorm>
__global__ void norm_forward_kernel(T* out, float* mean_out, float* rstd_out, const T* inp, const T* weight,
                                    const T* bias, int64_t N, int64_t C, float eps) {
  const int64_t row = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const T* x = inp + row * C;
  float mean = 0.0f;
  if (kLayerNorm) {
    float sum = 0.0f;
    for (int64_t c = lane; c < C; c += 32) sum += to_float(x[c]);
    mean = warp_sum(sum) / C;
  }
  norm_row_from_mean<T, kLayerNorm>(out, mean_out, rstd_out, x, mean, weight, bias, row, C, eps, lane);
}

// res = a + b (rounded to T), then the norm of res; res may alias a or b.
template <typename T, bool kLayerNorm>
__global__ void residual_norm_forward_kernel(T* res, T* out, float* mean_out, float* rstd_out, const T* a,
                                             const T* b, const T* weight, const T* bias, int64_t N, int64_t C,
                                             float eps) {
  const int64_t row = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  T* x = res + row * C;
  float sum = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const T v = from_float<T>(to_float(a[row * C + c]) + to_float(b[row * C + c]));
    x[c] = v;
    sum += to_float(v);
  }
  const float mean = kLayerNorm ? warp_sum(sum) / C : 0.0f;
  norm_row_from_mean<T, kLayerNorm>(out, mean_out, rstd_out, x, mean, weight, bias, row, C, eps, lane);
}

template <typename T>
__global__ void norm_backward_input_kernel(T* dinp, const T* dout, const T* inp, const T* weight,
                                           const float* mean, const float* rstd, int64_t N, int64_t C) {
  const int64_t row = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32;
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

// ---- host side ----

constexpr int kGenericRowsPerBlock = 8;  // generic kernels: one warp per row
constexpr int64_t kMaxParts = 512;       // partial rows of the row-resident backward

bool generic_kernels_only() {
  static const bool generic = env_switch_on("PRIMUS_NORM_GENERIC");
  return generic;
}

// PRIMUS_NORM_BACKWARD_VECS=1..3: the most 16-byte vectors of a row one thread of the row-resident
// backward holds (default 1: rows of up to 512 vectors; wider rows take 2), for comparisons.
int backward_max_vecs() {
  static const int vecs = [] {
    const char* v = std::getenv("PRIMUS_NORM_BACKWARD_VECS");
    const int n = v != nullptr && v[0] != '\0' ? std::atoi(v) : 1;
    return n < 1 ? 1 : (n > 3 ? 3 : n);
  }();
  return vecs;
}

template <typename... Ps>
bool aligned16(const Ps*... ps) {
  return ((reinterpret_cast<uintptr_t>(ps) % 16 == 0) && ...);
}

unsigned row_blocks(int64_t N) {
  return static_cast<unsigned>((N + kGenericRowsPerBlock - 1) / kGenericRowsPerBlock);
}

// How the row-resident kernels split a row of nv 16-byte vectors: `tpr` threads (a multiple of 32)
// of `vecs` vectors each, `rows` rows per block of tpr * rows threads (about `block`).
struct RowShape {
  int tpr, vecs, rows;
  int threads() const { return tpr * rows; }
};
RowShape row_shape(int64_t nv, int warp_vecs, int wide_vecs, int block) {
  RowShape r{};
  if (nv <= 32 * warp_vecs) {
    r.tpr = 32, r.vecs = static_cast<int>((nv + 31) / 32);
  } else {
    r.vecs = wide_vecs;
    r.tpr = static_cast<int>(((nv + wide_vecs - 1) / wide_vecs + 31) / 32 * 32);
  }
  r.rows = r.tpr < block ? block / r.tpr : 1;
  return r;
}

// Calls f(std::integral_constant<int, V>) for V = vecs (1 .. kMax).
template <int kMax, typename F>
void with_vecs(int vecs, F&& f) {
  if (vecs <= 1) f(std::integral_constant<int, 1>{});
  else if (vecs == 2 || kMax == 2) f(std::integral_constant<int, 2>{});
  else if (vecs == 3 || kMax == 3) f(std::integral_constant<int, kMax < 3 ? kMax : 3>{});
  else f(std::integral_constant<int, kMax < 4 ? kMax : 4>{});
}

// Row-resident forward when the shape allows it; false: use the generic kernels.
template <typename T, bool kResidual>
bool forward_rows(T* res, T* out, float* mean, float* rstd, const T* a, const T* b, const T* weight, const T* bias,
                  int64_t N, int64_t C, float eps, cudaStream_t s) {
  constexpr int kN = Vec16<T>::kN;
  if (generic_kernels_only() || C % kN != 0 || !aligned16(res, out, a, b, weight, bias)) return false;
  const RowShape rs = row_shape(C / kN, 4, 4, 256);
  if (rs.tpr > 256) return false;
  const unsigned grid = static_cast<unsigned>((N + rs.rows - 1) / rs.rows);
  with_vecs<4>(rs.vecs, [&](auto V) {
    norm_forward_rows_kernel<T, decltype(V)::value, kResidual><<<grid, rs.threads(), 0, s>>>(
        res, out, mean, rstd, a, b, weight, bias, N, static_cast<int>(C), rs.tpr, eps);
  });
  PRIMUS_CUDA_CHECK_LAUNCH();
  return true;
}

// Row-resident backward; with want_w/want_b it leaves `parts` partial rows of dweight and dbias in the
// workspace ((parts, C) each, dweight's first). False: the shape needs the generic kernels.
template <typename T>
bool backward_rows(T* dinp, bool want_w, bool want_b, const T* dout, const T* inp, const T* weight, const float* mean,
                   const float* rstd, int64_t N, int64_t C, float* workspace, int64_t* parts, cudaStream_t s) {
  constexpr int kN = Vec16<T>::kN;
  if (generic_kernels_only() || C % kN != 0 || !aligned16(dinp, dout, inp, weight)) return false;
  const int max_vecs = backward_max_vecs();
  RowShape rs = row_shape(C / kN, max_vecs, max_vecs < 2 ? max_vecs : 2, 256);
  if (rs.tpr > 512) rs = row_shape(C / kN, 2, 2, 256);  // too wide for one vector a thread
  if (rs.tpr > 512) return false;
  const int64_t groups = (N + rs.rows - 1) / rs.rows;
  const size_t smem = rs.rows > 1 ? 2 * static_cast<size_t>(C) * sizeof(float) : 0;
  with_vecs<3>(rs.vecs, [&](auto V) {
    auto* kernel = norm_backward_rows_kernel<T, decltype(V)::value>;
    int per_sm = 0;
    PRIMUS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, rs.threads(), smem));
    int64_t p = static_cast<int64_t>(per_sm < 1 ? 1 : per_sm) * device_sm_count();
    p = p < groups ? p : groups;
    p = p < kMaxParts ? p : kMaxParts;
    *parts = p;
    kernel<<<static_cast<unsigned>(p), rs.threads(), smem, s>>>(dinp, want_w ? workspace : nullptr,
                                                               want_b ? workspace + p * C : nullptr, dout, inp,
                                                               weight, mean, rstd, N, static_cast<int>(C), rs.tpr);
  });
  PRIMUS_CUDA_CHECK_LAUNCH();
  return true;
}

}  // namespace

void layernorm_forward_launch(void* out, float* mean, float* rstd, const void* inp, const void* weight,
                              const void* bias, DType dt, int64_t N, int64_t C, float eps, cudaStream_t s) {
  if (N == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, {
    E* y = static_cast<E*>(out);
    const E *x = static_cast<const E*>(inp), *w = static_cast<const E*>(weight), *b = static_cast<const E*>(bias);
    if (!forward_rows<E, false>(nullptr, y, mean, rstd, x, nullptr, w, b, N, C, eps, s)) {
      norm_forward_kernel<E, true><<<row_blocks(N), 32 * kGenericRowsPerBlock, 0, s>>>(y, mean, rstd, x, w, b, N, C,
                                                                                       eps);
      PRIMUS_CUDA_CHECK_LAUNCH();
    }
  });
}

void rmsnorm_forward_launch(void* out, float* rstd, const void* inp, const void* weight, DType dt, int64_t N,
                            int64_t C, float eps, cudaStream_t s) {
  if (N == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, {
    E* y = static_cast<E*>(out);
    const E *x = static_cast<const E*>(inp), *w = static_cast<const E*>(weight);
    if (!forward_rows<E, false>(nullptr, y, nullptr, rstd, x, nullptr, w, nullptr, N, C, eps, s)) {
      norm_forward_kernel<E, false><<<row_blocks(N), 32 * kGenericRowsPerBlock, 0, s>>>(y, nullptr, rstd, x, w,
                                                                                        nullptr, N, C, eps);
      PRIMUS_CUDA_CHECK_LAUNCH();
    }
  });
}

void residual_norm_forward_launch(void* res, void* out, float* mean, float* rstd, const void* a, const void* b,
                                  const void* weight, const void* bias, DType dt, int64_t N, int64_t C, float eps,
                                  cudaStream_t s) {
  if (N == 0) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, {
    E *r = static_cast<E*>(res), *y = static_cast<E*>(out);
    const E *xa = static_cast<const E*>(a), *xb = static_cast<const E*>(b);
    const E *w = static_cast<const E*>(weight), *bb = static_cast<const E*>(bias);
    if (!forward_rows<E, true>(r, y, mean, rstd, xa, xb, w, bb, N, C, eps, s)) {
      if (mean)
        residual_norm_forward_kernel<E, true><<<row_blocks(N), 32 * kGenericRowsPerBlock, 0, s>>>(
            r, y, mean, rstd, xa, xb, w, bb, N, C, eps);
      else
        residual_norm_forward_kernel<E, false><<<row_blocks(N), 32 * kGenericRowsPerBlock, 0, s>>>(
            r, y, nullptr, rstd, xa, xb, w, nullptr, N, C, eps);
      PRIMUS_CUDA_CHECK_LAUNCH();
    }
  });
}

size_t column_sum_workspace_bytes(int64_t N, int64_t C) {
  const int64_t rows_parts = N < kMaxParts ? N : kMaxParts;
  const int64_t parts = column_sum_splits(N) > rows_parts ? column_sum_splits(N) : rows_parts;
  return static_cast<size_t>(2 * parts * C) * sizeof(float);
}

void norm_backward_launch(void* dinp, void* dweight, void* dbias, const void* dout, const void* inp,
                          const void* weight, const float* mean, const float* rstd, DType dt, DType grad_dt,
                          int64_t N, int64_t C, float* workspace, cudaStream_t s) {
  if (N == 0) return;
  int64_t parts = 0;
  bool rows = false;
  PRIMUS_DISPATCH_FLOAT(dt, E, rows = backward_rows<E>(
      static_cast<E*>(dinp), dweight != nullptr, dbias != nullptr, static_cast<const E*>(dout),
      static_cast<const E*>(inp), static_cast<const E*>(weight), mean, rstd, N, C, workspace, &parts, s));
  if (rows) {
    column_finalize_launch(dweight, dbias, workspace, workspace + parts * C, grad_dt, parts, C, s);
    return;
  }
  if (dinp) {
    PRIMUS_DISPATCH_FLOAT(dt, E, norm_backward_input_kernel<E><<<row_blocks(N), 32 * kGenericRowsPerBlock, 0, s>>>(
        static_cast<E*>(dinp), static_cast<const E*>(dout), static_cast<const E*>(inp), static_cast<const E*>(weight),
        mean, rstd, N, C));
    PRIMUS_CUDA_CHECK_LAUNCH();
  }
  column_sums_launch(dweight, dbias, dout, inp, mean, rstd, dt, grad_dt, N, C, workspace, s);
}

}  // namespace primus::cuda
