// Causal grouped-query attention over packed qkv (B,T,(NH+2*NKV)*HS), flash-style: tiles of keys
// stream through shared memory with an online softmax, so the T x T matrix never exists. The
// backward pass recomputes the probabilities from the saved log-sum-exp in two kernels, one
// owning dq (per query tile) and one owning dk, dv (per key tile, over the group's query heads):
// no atomics, deterministic. fp32 arithmetic on CUDA cores, any head size up to 256 (each lane
// holds KPL = ceil(HS/32) elements of a row). bf16 with HS 64 or 128 goes to the tensor-core
// kernels: on compute capability 9.x the wgmma kernels (attention_wgmma_forward.cu,
// attention_wgmma_backward.cu; PRIMUS_ATTENTION_WGMMA=0 turns them off), elsewhere
// attention_forward_mma.cu and attention_backward_onepass.cu (mma.sync, sm_80+);
// PRIMUS_ATTENTION_LEGACY=1 selects the earlier tensor-core kernels instead: every tile masked in
// the forward, the two-pass backward of attention_backward_mma.cu.
#include <cstdlib>

#include "cuda/device_utils.cuh"
#include "cuda/kernels.h"

namespace primus::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kRowsPerWarp = 2;
constexpr int kRows = kWarps * kRowsPerWarp;  // query rows (or key rows) a block owns
constexpr int kTile = 32;                     // keys (or queries) streamed per step: one per lane

struct Dims {
  int64_t B, T, NH, NKV, W;  // W = (NH + 2*NKV) * HS, the packed row width
  int HS;
};

// Loads rows [row0, row0+rows) of one head (column offset col) into s (row stride ld), scaled;
// rows past T read as zero.
template <typename E>
__device__ void load_tile(float* s, int ld, const E* base, int64_t row0, int rows, int64_t T, int64_t W,
                          int64_t col, float scale, int HS) {
  for (int idx = threadIdx.x; idx < rows * HS; idx += blockDim.x) {
    int r = idx / HS, d = idx % HS;
    int64_t t = row0 + r;
    s[r * ld + d] = t < T ? to_float(base[t * W + col + d]) * scale : 0.0f;
  }
}

template <typename E, int KPL>
__global__ void __launch_bounds__(kWarps * 32)
attention_forward_kernel(E* out, float* lse, const E* qkv, Dims dm) {
  extern __shared__ float smem[];
  const int HS = dm.HS;
  float* Qs = smem;                    // (kRows, HS)
  float* Ks = Qs + kRows * HS;         // (kTile, HS+1)
  float* Vs = Ks + kTile * (HS + 1);   // (kTile, HS)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * (int64_t)kRows;
  const int64_t g = h / (dm.NH / dm.NKV);
  const E* base = qkv + b * dm.T * dm.W;
  const float scale = rsqrtf(static_cast<float>(HS));
  load_tile<E>(Qs, HS, base, q0, kRows, dm.T, dm.W, h * HS, scale, HS);

  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][KPL];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int k = 0; k < KPL; ++k) acc[r][k] = 0.0f;
  }
  const int64_t q_last = min(dm.T - 1, q0 + kRows - 1);
  for (int64_t k0 = 0; k0 <= q_last; k0 += kTile) {
    __syncthreads();
    load_tile<E>(Ks, HS + 1, base, k0, kTile, dm.T, dm.W, (dm.NH + g) * HS, 1.0f, HS);
    load_tile<E>(Vs, HS, base, k0, kTile, dm.T, dm.W, (dm.NH + dm.NKV + g) * HS, 1.0f, HS);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int lr = warp * kRowsPerWarp + r;
      const int64_t q = q0 + lr;
      if (q >= dm.T || k0 > q) continue;
      float s = 0.0f;
#pragma unroll 16
      for (int d = 0; d < HS; ++d) s += Qs[lr * HS + d] * Ks[lane * (HS + 1) + d];
      if (k0 + lane > q) s = -INFINITY;
      const float m_new = fmaxf(m[r], warp_max(s));
      const float p = __expf(s - m_new);
      const float corr = __expf(m[r] - m_new);
      l[r] = l[r] * corr + warp_sum(p);
      m[r] = m_new;
#pragma unroll
      for (int k = 0; k < KPL; ++k) acc[r][k] *= corr;
#pragma unroll 8
      for (int j = 0; j < kTile; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
        for (int k = 0; k < KPL; ++k)
          if (lane + 32 * k < HS) acc[r][k] += pj * Vs[j * HS + lane + 32 * k];
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t q = q0 + warp * kRowsPerWarp + r;
    if (q >= dm.T) continue;
    E* o = out + (b * dm.T + q) * dm.NH * HS + h * HS;
#pragma unroll
    for (int k = 0; k < KPL; ++k)
      if (lane + 32 * k < HS) o[lane + 32 * k] = from_float<E>(acc[r][k] / l[r]);
    if (lane == 0) lse[(b * dm.NH + h) * dm.T + q] = m[r] + logf(l[r]);
  }
}

// D (B,NH,T) = rowwise dot(dout, out): the softmax backward's correction term.
template <typename E>
__global__ void attention_delta_kernel(float* D, const E* dout, const E* out, Dims dm, int HS) {
  const int64_t row = blockIdx.x * (int64_t)kWarps + threadIdx.x / 32;  // over B*T*NH
  const int lane = threadIdx.x % 32;
  if (row >= dm.B * dm.T * dm.NH) return;
  const int64_t h = row % dm.NH, bt = row / dm.NH, b = bt / dm.T, t = bt % dm.T;
  float s = 0.0f;
  for (int d = lane; d < HS; d += 32) s += to_float(dout[row * HS + d]) * to_float(out[row * HS + d]);
  s = warp_sum(s);
  if (lane == 0) D[(b * dm.NH + h) * dm.T + t] = s;
}

// dq for a tile of kRows query rows of head h: dq_i = scale * sum_j ds_ij k_j.
template <typename E, int KPL>
__global__ void __launch_bounds__(kWarps * 32)
attention_backward_dq_kernel(E* dqkv, const E* dout, const E* qkv, const float* lse, const float* D, Dims dm) {
  extern __shared__ float smem[];
  const int HS = dm.HS;
  float* Qs = smem;                    // (kRows, HS), scaled
  float* dOs = Qs + kRows * HS;        // (kRows, HS)
  float* Ks = dOs + kRows * HS;        // (kTile, HS+1)
  float* Vs = Ks + kTile * (HS + 1);   // (kTile, HS+1)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * (int64_t)kRows;
  const int64_t g = h / (dm.NH / dm.NKV);
  const E* base = qkv + b * dm.T * dm.W;
  const float scale = rsqrtf(static_cast<float>(HS));
  load_tile<E>(Qs, HS, base, q0, kRows, dm.T, dm.W, h * HS, scale, HS);
  load_tile<E>(dOs, HS, dout + b * dm.T * dm.NH * HS, q0, kRows, dm.T, dm.NH * HS, h * HS, 1.0f, HS);

  float dq[kRowsPerWarp][KPL], row_lse[kRowsPerWarp], row_D[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t q = q0 + warp * kRowsPerWarp + r;
    row_lse[r] = q < dm.T ? lse[(b * dm.NH + h) * dm.T + q] : 0.0f;
    row_D[r] = q < dm.T ? D[(b * dm.NH + h) * dm.T + q] : 0.0f;
#pragma unroll
    for (int k = 0; k < KPL; ++k) dq[r][k] = 0.0f;
  }
  const int64_t q_last = min(dm.T - 1, q0 + kRows - 1);
  for (int64_t k0 = 0; k0 <= q_last; k0 += kTile) {
    __syncthreads();
    load_tile<E>(Ks, HS + 1, base, k0, kTile, dm.T, dm.W, (dm.NH + g) * HS, 1.0f, HS);
    load_tile<E>(Vs, HS + 1, base, k0, kTile, dm.T, dm.W, (dm.NH + dm.NKV + g) * HS, 1.0f, HS);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int lr = warp * kRowsPerWarp + r;
      const int64_t q = q0 + lr;
      if (q >= dm.T || k0 > q) continue;
      float s = 0.0f, dp = 0.0f;
#pragma unroll 16
      for (int d = 0; d < HS; ++d) {
        s += Qs[lr * HS + d] * Ks[lane * (HS + 1) + d];
        dp += dOs[lr * HS + d] * Vs[lane * (HS + 1) + d];
      }
      const float p = k0 + lane <= q ? __expf(s - row_lse[r]) : 0.0f;
      const float ds = p * (dp - row_D[r]);
#pragma unroll 8
      for (int j = 0; j < kTile; ++j) {
        const float dsj = __shfl_sync(0xffffffffu, ds, j);
#pragma unroll
        for (int k = 0; k < KPL; ++k)
          if (lane + 32 * k < HS) dq[r][k] += dsj * Ks[j * (HS + 1) + lane + 32 * k];
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t q = q0 + warp * kRowsPerWarp + r;
    if (q >= dm.T) continue;
    E* dst = dqkv + (b * dm.T + q) * dm.W + h * HS;
#pragma unroll
    for (int k = 0; k < KPL; ++k)
      if (lane + 32 * k < HS) dst[lane + 32 * k] = from_float<E>(to_float(dst[lane + 32 * k]) + scale * dq[r][k]);
  }
}

// dk, dv for a tile of kRows key rows of KV head g, summed over the group's query heads:
// dv_j = sum_i p_ij dout_i, dk_j = scale * sum_i ds_ij q_i.
template <typename E, int KPL>
__global__ void __launch_bounds__(kWarps * 32)
attention_backward_dkv_kernel(E* dqkv, const E* dout, const E* qkv, const float* lse, const float* D, Dims dm) {
  extern __shared__ float smem[];
  const int HS = dm.HS;
  float* Ks = smem;                    // (kRows, HS)
  float* Vs = Ks + kRows * HS;         // (kRows, HS)
  float* Qs = Vs + kRows * HS;         // (kTile, HS+1), scaled
  float* dOs = Qs + kTile * (HS + 1);  // (kTile, HS+1)
  float* lse_s = dOs + kTile * (HS + 1);  // (kTile)
  float* D_s = lse_s + kTile;             // (kTile)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t b = blockIdx.z, g = blockIdx.y, j0 = blockIdx.x * (int64_t)kRows;
  const int64_t group = dm.NH / dm.NKV;
  const E* base = qkv + b * dm.T * dm.W;
  const E* dout_b = dout + b * dm.T * dm.NH * HS;
  const float scale = rsqrtf(static_cast<float>(HS));
  load_tile<E>(Ks, HS, base, j0, kRows, dm.T, dm.W, (dm.NH + g) * HS, 1.0f, HS);
  load_tile<E>(Vs, HS, base, j0, kRows, dm.T, dm.W, (dm.NH + dm.NKV + g) * HS, 1.0f, HS);

  float dk[kRowsPerWarp][KPL], dv[kRowsPerWarp][KPL];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r)
#pragma unroll
    for (int k = 0; k < KPL; ++k) dk[r][k] = dv[r][k] = 0.0f;

  for (int64_t h = g * group; h < (g + 1) * group; ++h) {
    for (int64_t i0 = j0 / kTile * kTile; i0 < dm.T; i0 += kTile) {
      __syncthreads();
      load_tile<E>(Qs, HS + 1, base, i0, kTile, dm.T, dm.W, h * HS, scale, HS);
      load_tile<E>(dOs, HS + 1, dout_b, i0, kTile, dm.T, dm.NH * HS, h * HS, 1.0f, HS);
      if (threadIdx.x < kTile) {
        const int64_t i = i0 + threadIdx.x;
        lse_s[threadIdx.x] = i < dm.T ? lse[(b * dm.NH + h) * dm.T + i] : 0.0f;
        D_s[threadIdx.x] = i < dm.T ? D[(b * dm.NH + h) * dm.T + i] : 0.0f;
      }
      __syncthreads();
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const int lr = warp * kRowsPerWarp + r;
        const int64_t j = j0 + lr;
        if (j >= dm.T || i0 + kTile - 1 < j) continue;
        float s = 0.0f, dp = 0.0f;
#pragma unroll 16
        for (int d = 0; d < HS; ++d) {
          s += Qs[lane * (HS + 1) + d] * Ks[lr * HS + d];
          dp += dOs[lane * (HS + 1) + d] * Vs[lr * HS + d];
        }
        const int64_t i = i0 + lane;
        const float p = (i >= j && i < dm.T) ? __expf(s - lse_s[lane]) : 0.0f;
        const float ds = p * (dp - D_s[lane]);
#pragma unroll 8
        for (int ii = 0; ii < kTile; ++ii) {
          const float pi = __shfl_sync(0xffffffffu, p, ii);
          const float dsi = __shfl_sync(0xffffffffu, ds, ii);
#pragma unroll
          for (int k = 0; k < KPL; ++k) {
            if (lane + 32 * k >= HS) continue;
            dv[r][k] += pi * dOs[ii * (HS + 1) + lane + 32 * k];
            dk[r][k] += dsi * Qs[ii * (HS + 1) + lane + 32 * k];
          }
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t j = j0 + warp * kRowsPerWarp + r;
    if (j >= dm.T) continue;
    E* dk_dst = dqkv + (b * dm.T + j) * dm.W + (dm.NH + g) * HS;
    E* dv_dst = dqkv + (b * dm.T + j) * dm.W + (dm.NH + dm.NKV + g) * HS;
#pragma unroll
    for (int k = 0; k < KPL; ++k) {
      const int d = lane + 32 * k;
      if (d >= HS) continue;
      dk_dst[d] = from_float<E>(to_float(dk_dst[d]) + dk[r][k]);
      dv_dst[d] = from_float<E>(to_float(dv_dst[d]) + dv[r][k]);
    }
  }
}

template <typename K>
void set_smem(K kernel, size_t bytes) {
  PRIMUS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

template <typename E, int KPL>
void forward(E* out, float* lse, const E* qkv, Dims dm, cudaStream_t s) {
  const int HS = dm.HS;
  const size_t smem = sizeof(float) * (kRows * HS + kTile * (HS + 1) + kTile * HS);
  set_smem(attention_forward_kernel<E, KPL>, smem);
  dim3 grid(static_cast<unsigned>((dm.T + kRows - 1) / kRows), static_cast<unsigned>(dm.NH),
            static_cast<unsigned>(dm.B));
  attention_forward_kernel<E, KPL><<<grid, kWarps * 32, smem, s>>>(out, lse, qkv, dm);
  PRIMUS_CUDA_CHECK_LAUNCH();
}

template <typename E, int KPL>
void backward(E* dqkv, const E* dout, const E* qkv, const E* out, const float* lse, float* D, Dims dm,
              cudaStream_t s) {
  const int HS = dm.HS;
  const int64_t rows = dm.B * dm.T * dm.NH;
  attention_delta_kernel<E><<<static_cast<unsigned>((rows + kWarps - 1) / kWarps), kWarps * 32, 0, s>>>(
      D, dout, out, dm, HS);
  PRIMUS_CUDA_CHECK_LAUNCH();
  const unsigned tiles = static_cast<unsigned>((dm.T + kRows - 1) / kRows);
  const size_t smem_dq = sizeof(float) * (2 * kRows * HS + 2 * kTile * (HS + 1));
  set_smem(attention_backward_dq_kernel<E, KPL>, smem_dq);
  attention_backward_dq_kernel<E, KPL><<<dim3(tiles, (unsigned)dm.NH, (unsigned)dm.B), kWarps * 32, smem_dq, s>>>(
      dqkv, dout, qkv, lse, D, dm);
  PRIMUS_CUDA_CHECK_LAUNCH();
  const size_t smem_dkv = sizeof(float) * (2 * kRows * HS + 2 * kTile * (HS + 1) + 2 * kTile);
  set_smem(attention_backward_dkv_kernel<E, KPL>, smem_dkv);
  attention_backward_dkv_kernel<E, KPL><<<dim3(tiles, (unsigned)dm.NKV, (unsigned)dm.B), kWarps * 32, smem_dkv, s>>>(
      dqkv, dout, qkv, lse, D, dm);
  PRIMUS_CUDA_CHECK_LAUNCH();
}

// Binds KPL to the smallest in {1, 2, 4, 8} such that 32*KPL >= HS.
#define PRIMUS_DISPATCH_KPL(HS, KPL, ...)              \
  do {                                                 \
    if ((HS) <= 32) { constexpr int KPL = 1; __VA_ARGS__; }        \
    else if ((HS) <= 64) { constexpr int KPL = 2; __VA_ARGS__; }   \
    else if ((HS) <= 128) { constexpr int KPL = 4; __VA_ARGS__; }  \
    else { constexpr int KPL = 8; __VA_ARGS__; }                   \
  } while (0)

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

bool attention_supports_head_size(int64_t HS) { return HS >= 1 && HS <= 256; }

size_t attention_backward_workspace_bytes(int64_t B, int64_t T, int64_t NH, int64_t HS) {
  if (HS == 64 || HS == 128) return attention_backward_onepass_workspace_bytes(B, T, NH, HS);
  return static_cast<size_t>(B * T * NH) * sizeof(float);
}

bool attention_legacy_kernels() {
  static const bool legacy = env_switch_on("PRIMUS_ATTENTION_LEGACY");
  return legacy;
}

bool attention_wgmma_kernels() {
  static const bool on = [] {
    const char* v = std::getenv("PRIMUS_ATTENTION_WGMMA");
    const bool off = v != nullptr && v[0] == '0';
    return !off && !attention_legacy_kernels() && attention_wgmma_device();
  }();
  return on;
}

void attention_forward_launch(void* out, float* lse, const void* qkv, DType dt, int64_t B, int64_t T, int64_t NH,
                              int64_t NKV, int64_t HS, cudaStream_t s) {
  if (B * T == 0) return;
  if (dt == DType::kBF16 && (HS == 64 || HS == 128) && aligned16(out) && aligned16(qkv)) {
    if (attention_wgmma_kernels())
      attention_forward_wgmma_launch(out, lse, qkv, B, T, NH, NKV, HS, s);
    else
      attention_forward_mma_launch(out, lse, qkv, B, T, NH, NKV, HS, s);
    return;
  }
  Dims dm{B, T, NH, NKV, (NH + 2 * NKV) * HS, static_cast<int>(HS)};
  PRIMUS_DISPATCH_FLOAT(dt, E, PRIMUS_DISPATCH_KPL(HS, KPL,
      forward<E, KPL>(static_cast<E*>(out), lse, static_cast<const E*>(qkv), dm, s)));
}

void attention_backward_launch(void* dqkv, const void* dout, const void* qkv, const void* out, const float* lse,
                               DType dt, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS,
                               void* workspace, cudaStream_t s) {
  if (B * T == 0) return;
  Dims dm{B, T, NH, NKV, (NH + 2 * NKV) * HS, static_cast<int>(HS)};
  float* D = static_cast<float*>(workspace);
  if (dt == DType::kBF16 && (HS == 64 || HS == 128) && aligned16(dqkv) && aligned16(dout) && aligned16(qkv) && aligned16(out)) {
    if (attention_legacy_kernels())
      attention_backward_mma_launch(dqkv, dout, qkv, out, lse, D, B, T, NH, NKV, HS, s);
    else
      attention_backward_onepass_launch(dqkv, dout, qkv, out, lse, D, B, T, NH, NKV, HS, s);
    return;
  }
  PRIMUS_DISPATCH_FLOAT(dt, E, PRIMUS_DISPATCH_KPL(HS, KPL,
      backward<E, KPL>(static_cast<E*>(dqkv), static_cast<const E*>(dout), static_cast<const E*>(qkv),
                       static_cast<const E*>(out), lse, D, dm, s)));
}

}  // namespace primus::cuda
