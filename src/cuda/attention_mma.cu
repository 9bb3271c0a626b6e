// Flash attention on tensor cores (mma.sync m16n8k16, bf16 in, fp32 accumulate) for bf16 packed
// qkv, causal, grouped-query, head sizes 64 and 128. Forward: a block owns 128 query rows (16 or
// 32 per warp), streams 64-key tiles of K and V through shared memory (cp.async, double-buffered)
// with an online softmax in registers (FlashAttention-2). Backward: one kernel owns dq (per 64
// query rows; it also computes D = rowsum(dout * out)), one owns dk and dv (per 64 key rows, over
// the group's query heads); both recompute P
// from the saved log-sum-exp, so the T x T matrix never exists and no atomics run.
#include "cuda/device_utils.cuh"
#include "cuda/kernels.h"
#include "cuda/mma.cuh"

namespace primus::cuda {
namespace {

constexpr int kThreads = 128;               // backward blocks: 4 warps (8 measured slower on H100)
constexpr int kBwdRows = 16 * kThreads / 32;  // query rows (dq) or key rows (dk, dv) a block owns
constexpr float kLog2e = 1.4426950408889634f;

struct MmaDims {
  int64_t B, T, NH, NKV, W;  // W = (NH + 2*NKV) * HS
};

// Starts copying rows [row0, row0+rows) x HS bf16 of global memory (row stride W, column offset
// col) into shared memory (row stride HS+8); rows past T become zero. Completes at the caller's
// cp_async_wait + __syncthreads.
template <int HS, int kThreadsLoad>
__device__ __forceinline__ void load_tile_async(bf16* s, const bf16* g, int64_t row0, int rows, int64_t T, int64_t W,
                                                int64_t col) {
  constexpr int kChunks = HS / 8;  // 16-byte chunks per row
  for (int idx = threadIdx.x; idx < rows * kChunks; idx += kThreadsLoad) {
    const int r = idx / kChunks, c = (idx % kChunks) * 8;
    const int64_t t = row0 + r;
    cp_async_16(s + r * (HS + 8) + c, g + (t < T ? t : 0) * W + col + c, t < T);
  }
}

// A fragments (16 rows x HS) of rows r (g) and r+8 straight from global memory; rows past T are 0.
template <int HS>
__device__ __forceinline__ void load_a_rows(uint32_t (*f)[4], const bf16* g, int64_t r0, int64_t T, int64_t W,
                                            int64_t col, int lane) {
  const int64_t ra = r0 + lane / 4, rb = ra + 8;
  const int t2 = (lane % 4) * 2;
#pragma unroll
  for (int kk = 0; kk < HS / 16; ++kk) {
    const int64_t c = col + kk * 16 + t2;
    f[kk][0] = ra < T ? load_u32(g + ra * W + c) : 0u;
    f[kk][1] = rb < T ? load_u32(g + rb * W + c) : 0u;
    f[kk][2] = ra < T ? load_u32(g + ra * W + c + 8) : 0u;
    f[kk][3] = rb < T ? load_u32(g + rb * W + c + 8) : 0u;
  }
}

// A fragment of 16 rows starting at row r0 of a shared tile (row stride HS+8), k-step kk.
template <int HS>
__device__ __forceinline__ void load_a_smem(uint32_t* a, const bf16* s, int r0, int kk, int lane) {
  const bf16* p = s + (r0 + lane / 4) * (HS + 8) + kk * 16 + (lane % 4) * 2;
  a[0] = load_u32(p);
  a[1] = load_u32(p + 8 * (HS + 8));
  a[2] = load_u32(p + 8);
  a[3] = load_u32(p + 8 * (HS + 8) + 8);
}

// acc (16 x 8*NT) += A (16 x HS, fragments a) * rows [0, 8*NT) of the shared tile s
// (row-major (n, HS), i.e. B = s^T).
template <int HS, int NT>
__device__ __forceinline__ void mma_a_bt(float (*acc)[4], const uint32_t (*a)[4], const bf16* s, int lane) {
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
    for (int kk = 0; kk < HS / 16; kk += 2) {
      uint32_t b[4];
      ldmatrix_x4(b, s + (nt * 8 + lane % 8) * (HS + 8) + kk * 16 + (lane / 8) * 8);
      mma_bf16_16816(acc[nt], a[kk], b[0], b[1]);
      mma_bf16_16816(acc[nt], a[kk + 1], b[2], b[3]);
    }
  }
}

// acc (16 x HS) += P (16 x 16*KT, as C fragments p of 2*KT n-tiles) * s (rows = k, (16*KT, HS)).
template <int HS, int KT>
__device__ __forceinline__ void mma_p_v(float (*acc)[4], const float (*p)[4], const bf16* s, int lane) {
#pragma unroll
  for (int kk = 0; kk < KT; ++kk) {
    uint32_t a[4] = {pack_bf16(p[2 * kk][0], p[2 * kk][1]), pack_bf16(p[2 * kk][2], p[2 * kk][3]),
                     pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]), pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
    for (int np = 0; np < HS / 16; ++np) {
      uint32_t b[4];
      load_b_trans(b, s, HS + 8, kk * 16, np * 16, lane);
      mma_bf16_16816(acc[2 * np], a, b[0], b[1]);
      mma_bf16_16816(acc[2 * np + 1], a, b[2], b[3]);
    }
  }
}

// Forward layout: kWarps warps per block, each owning MT m-tiles of 16 query rows, so that every
// K/V fragment read from shared memory feeds MT tensor-core ops. HS 64: 4 warps x 2 m-tiles;
// HS 128: 8 warps x 1 m-tile (registers). Both give 128 query rows per block.
template <int HS>
constexpr int fwd_warps() { return HS == 128 ? 8 : 4; }
template <int HS>
constexpr int fwd_mtiles() { return HS == 128 ? 1 : 2; }
constexpr int kFwdKeys = 64;  // keys per tile

template <int HS>
constexpr size_t forward_smem_bytes() { return 2 * 2 * kFwdKeys * (HS + 8) * sizeof(bf16); }

// One online-softmax step for an m-tile whose scores s (16 x kBc) are scaled to the log2 domain:
// masks keys after each row (rows ra, ra+8), updates the running max m and per-lane partial sums
// l, rescales o, and leaves the probabilities in s.
template <int HS, int NT>
__device__ __forceinline__ void softmax_step(float (&s)[NT][4], float (&o)[HS / 8][4], float (&m)[2], float (&l)[2],
                                             int64_t k0, int64_t ra, int t2, float sl2) {
  const int64_t rb = ra + 8;
  float mxa = -INFINITY, mxb = -INFINITY;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int64_t col = k0 + nt * 8 + t2;
    s[nt][0] = col > ra ? -INFINITY : s[nt][0] * sl2;
    s[nt][1] = col + 1 > ra ? -INFINITY : s[nt][1] * sl2;
    s[nt][2] = col > rb ? -INFINITY : s[nt][2] * sl2;
    s[nt][3] = col + 1 > rb ? -INFINITY : s[nt][3] * sl2;
    mxa = fmaxf(mxa, fmaxf(s[nt][0], s[nt][1]));
    mxb = fmaxf(mxb, fmaxf(s[nt][2], s[nt][3]));
  }
#pragma unroll
  for (int o2 = 1; o2 < 4; o2 <<= 1) {
    mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, o2));
    mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, o2));
  }
  const float na = fmaxf(m[0], mxa), nb = fmaxf(m[1], mxb);
  const float ca = exp2f(m[0] - na), cb = exp2f(m[1] - nb);
  m[0] = na;
  m[1] = nb;
  float suma = 0.0f, sumb = 0.0f;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    s[nt][0] = exp2f(s[nt][0] - na);
    s[nt][1] = exp2f(s[nt][1] - na);
    s[nt][2] = exp2f(s[nt][2] - nb);
    s[nt][3] = exp2f(s[nt][3] - nb);
    suma += s[nt][0] + s[nt][1];
    sumb += s[nt][2] + s[nt][3];
  }
  l[0] = l[0] * ca + suma;  // per-lane partial; the 4 lanes of a row are summed at the end
  l[1] = l[1] * cb + sumb;
#pragma unroll
  for (int nt = 0; nt < HS / 8; ++nt) {
    o[nt][0] *= ca;
    o[nt][1] *= ca;
    o[nt][2] *= cb;
    o[nt][3] *= cb;
  }
}

template <int HS>
__global__ void __launch_bounds__(32 * fwd_warps<HS>())
attention_forward_mma_kernel(bf16* out, float* lse, const bf16* qkv, MmaDims dm) {
  constexpr int kBc = kFwdKeys, LD = HS + 8, kNT = 32 * fwd_warps<HS>(), MT = fwd_mtiles<HS>();
  constexpr int kWarpRows = 16 * MT, kBlockRows = kWarpRows * fwd_warps<HS>();
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Ks = reinterpret_cast<bf16*>(smem_raw);  // 2 stages of (kBc, LD)
  bf16* Vs = Ks + 2 * kBc * LD;                    // 2 stages of (kBc, LD)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, t2 = (lane % 4) * 2;
  const int64_t b = blockIdx.z, h = blockIdx.y, q0 = (gridDim.x - 1 - blockIdx.x) * (int64_t)kBlockRows;  // heavy first
  const int64_t g = h / (dm.NH / dm.NKV);
  const bf16* base = qkv + b * dm.T * dm.W;
  const int64_t w0 = q0 + warp * kWarpRows;
  const int64_t kcol = (dm.NH + g) * HS, vcol = (dm.NH + dm.NKV + g) * HS;
  const int64_t kv_end = min(dm.T, q0 + kBlockRows);
  const int tiles = static_cast<int>((kv_end + kBc - 1) / kBc);
  load_tile_async<HS, kNT>(Ks, base, 0, kBc, dm.T, dm.W, kcol);
  load_tile_async<HS, kNT>(Vs, base, 0, kBc, dm.T, dm.W, vcol);
  cp_async_commit();
  uint32_t qf[MT][HS / 16][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) load_a_rows<HS>(qf[mt], base, w0 + 16 * mt, dm.T, dm.W, h * HS, lane);
  float o[MT][HS / 8][4] = {};
  float m[MT][2], l[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    m[mt][0] = m[mt][1] = -INFINITY;
    l[mt][0] = l[mt][1] = 0.0f;
  }
  const float sl2 = rsqrtf(static_cast<float>(HS)) * kLog2e;
  for (int it = 0; it < tiles; ++it) {
    const int64_t k0 = it * (int64_t)kBc;
    if (it + 1 < tiles) {
      const int st = (it + 1) & 1;
      load_tile_async<HS, kNT>(Ks + st * kBc * LD, base, k0 + kBc, kBc, dm.T, dm.W, kcol);
      load_tile_async<HS, kNT>(Vs + st * kBc * LD, base, k0 + kBc, kBc, dm.T, dm.W, vcol);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* Kt = Ks + (it & 1) * kBc * LD;
    const bf16* Vt = Vs + (it & 1) * kBc * LD;
    if (k0 <= w0 + kWarpRows - 1) {  // else every key of the tile is after every row of this warp
      float s[MT][kBc / 8][4] = {};
#pragma unroll
      for (int nt = 0; nt < kBc / 8; ++nt) {
#pragma unroll
        for (int kk = 0; kk < HS / 16; kk += 2) {
          uint32_t bk[4];
          ldmatrix_x4(bk, Kt + (nt * 8 + lane % 8) * LD + kk * 16 + (lane / 8) * 8);
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            mma_bf16_16816(s[mt][nt], qf[mt][kk], bk[0], bk[1]);
            mma_bf16_16816(s[mt][nt], qf[mt][kk + 1], bk[2], bk[3]);
          }
        }
      }
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
        softmax_step<HS, kBc / 8>(s[mt], o[mt], m[mt], l[mt], k0, w0 + 16 * mt + lane / 4, t2, sl2);
#pragma unroll
      for (int kk = 0; kk < kBc / 16; ++kk) {
        uint32_t a[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          a[mt][0] = pack_bf16(s[mt][2 * kk][0], s[mt][2 * kk][1]);
          a[mt][1] = pack_bf16(s[mt][2 * kk][2], s[mt][2 * kk][3]);
          a[mt][2] = pack_bf16(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
          a[mt][3] = pack_bf16(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
        }
#pragma unroll
        for (int np = 0; np < HS / 16; ++np) {
          uint32_t bv[4];
          load_b_trans(bv, Vt, LD, kk * 16, np * 16, lane);
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            mma_bf16_16816(o[mt][2 * np], a[mt], bv[0], bv[1]);
            mma_bf16_16816(o[mt][2 * np + 1], a[mt], bv[2], bv[3]);
          }
        }
      }
    }
    __syncthreads();  // the next iteration's copies overwrite this stage
  }
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    float la = l[mt][0], lb = l[mt][1];
#pragma unroll
    for (int o2 = 1; o2 < 4; o2 <<= 1) {
      la += __shfl_xor_sync(0xffffffffu, la, o2);
      lb += __shfl_xor_sync(0xffffffffu, lb, o2);
    }
    const int64_t ra = w0 + 16 * mt + lane / 4, rb = ra + 8;
    const float ia = 1.0f / la, ib = 1.0f / lb;
#pragma unroll
    for (int nt = 0; nt < HS / 8; ++nt) {
      const int64_t c = h * HS + nt * 8 + t2;
      if (ra < dm.T)
        *reinterpret_cast<uint32_t*>(out + (b * dm.T + ra) * dm.NH * HS + c) =
            pack_bf16(o[mt][nt][0] * ia, o[mt][nt][1] * ia);
      if (rb < dm.T)
        *reinterpret_cast<uint32_t*>(out + (b * dm.T + rb) * dm.NH * HS + c) =
            pack_bf16(o[mt][nt][2] * ib, o[mt][nt][3] * ib);
    }
    if (lane % 4 == 0) {
      if (ra < dm.T) lse[(b * dm.NH + h) * dm.T + ra] = (m[mt][0] + log2f(la)) / kLog2e;
      if (rb < dm.T) lse[(b * dm.NH + h) * dm.T + rb] = (m[mt][1] + log2f(lb)) / kLog2e;
    }
  }
}

// dst (bf16 pair at p) += (x, y).
__device__ __forceinline__ void add_pair(bf16* p, float x, float y) {
  const float2 cur = unpack_bf16(load_u32(p));
  *reinterpret_cast<uint32_t*>(p) = pack_bf16(cur.x + x, cur.y + y);
}

// Backward tile sizes: keys per step of the dq kernel, queries per step of the dk/dv kernel.
template <int HS>
constexpr int bwd_step() { return HS == 64 ? 64 : 32; }
template <int HS>
constexpr size_t dq_smem_bytes() { return 2 * 2 * bwd_step<HS>() * (HS + 8) * sizeof(bf16); }
template <int HS>
constexpr size_t dkv_smem_bytes() {
  return (2 * kBwdRows + 2 * 2 * bwd_step<HS>()) * (HS + 8) * sizeof(bf16) + 2 * 2 * bwd_step<HS>() * sizeof(float);
}

template <int HS>
__global__ void __launch_bounds__(kThreads, 1)
attention_backward_dq_mma_kernel(bf16* dqkv, float* D, const bf16* dout, const bf16* qkv, const bf16* out,
                                 const float* lse, MmaDims dm) {
  constexpr int kBr = kBwdRows, kBc = bwd_step<HS>(), LD = HS + 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Ks = reinterpret_cast<bf16*>(smem_raw);  // 2 stages of (kBc, LD)
  bf16* Vs = Ks + 2 * kBc * LD;                    // 2 stages of (kBc, LD)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, t2 = (lane % 4) * 2;
  const int64_t b = blockIdx.z, h = blockIdx.y, q0 = (gridDim.x - 1 - blockIdx.x) * (int64_t)kBr;
  const int64_t g = h / (dm.NH / dm.NKV);
  const bf16* base = qkv + b * dm.T * dm.W;
  const int64_t w0 = q0 + warp * 16, ra = w0 + lane / 4, rb = ra + 8;
  const int64_t kcol = (dm.NH + g) * HS, vcol = (dm.NH + dm.NKV + g) * HS;
  const int64_t kv_end = min(dm.T, q0 + kBr);
  const int tiles = static_cast<int>((kv_end + kBc - 1) / kBc);
  load_tile_async<HS, kThreads>(Ks, base, 0, kBc, dm.T, dm.W, kcol);
  load_tile_async<HS, kThreads>(Vs, base, 0, kBc, dm.T, dm.W, vcol);
  cp_async_commit();
  uint32_t qf[HS / 16][4], df[HS / 16][4];
  load_a_rows<HS>(qf, base, w0, dm.T, dm.W, h * HS, lane);
  load_a_rows<HS>(df, dout + b * dm.T * dm.NH * HS, w0, dm.T, dm.NH * HS, h * HS, lane);
  const float* lse_h = lse + (b * dm.NH + h) * dm.T;
  const float lsea = ra < dm.T ? lse_h[ra] * kLog2e : 0.0f, lseb = rb < dm.T ? lse_h[rb] * kLog2e : 0.0f;
  // D = rowsum(dout * out) for rows ra, rb from the dout fragments and out in the same layout;
  // written for the dk/dv kernel that runs next.
  float Da = 0.0f, Db = 0.0f;
  {
    uint32_t of[HS / 16][4];
    load_a_rows<HS>(of, out + b * dm.T * dm.NH * HS, w0, dm.T, dm.NH * HS, h * HS, lane);
#pragma unroll
    for (int kk = 0; kk < HS / 16; ++kk) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float2 x = unpack_bf16(df[kk][e]), y = unpack_bf16(of[kk][e]);
        const float v = x.x * y.x + x.y * y.y;
        if (e % 2 == 0) Da += v; else Db += v;
      }
    }
#pragma unroll
    for (int o2 = 1; o2 < 4; o2 <<= 1) {
      Da += __shfl_xor_sync(0xffffffffu, Da, o2);
      Db += __shfl_xor_sync(0xffffffffu, Db, o2);
    }
    float* D_h = D + (b * dm.NH + h) * dm.T;
    if (lane % 4 == 0) {
      if (ra < dm.T) D_h[ra] = Da;
      if (rb < dm.T) D_h[rb] = Db;
    }
  }
  const float scale = rsqrtf(static_cast<float>(HS)), sl2 = scale * kLog2e;
  float dq[HS / 8][4] = {};
  for (int it = 0; it < tiles; ++it) {
    const int64_t k0 = it * (int64_t)kBc;
    if (it + 1 < tiles) {
      const int st = (it + 1) & 1;
      load_tile_async<HS, kThreads>(Ks + st * kBc * LD, base, k0 + kBc, kBc, dm.T, dm.W, kcol);
      load_tile_async<HS, kThreads>(Vs + st * kBc * LD, base, k0 + kBc, kBc, dm.T, dm.W, vcol);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* Kt = Ks + (it & 1) * kBc * LD;
    const bf16* Vt = Vs + (it & 1) * kBc * LD;
    if (k0 <= w0 + 15) {
      float s[kBc / 8][4] = {}, dp[kBc / 8][4] = {};
      mma_a_bt<HS, kBc / 8>(s, qf, Kt, lane);
      mma_a_bt<HS, kBc / 8>(dp, df, Vt, lane);
#pragma unroll
      for (int nt = 0; nt < kBc / 8; ++nt) {
        const int64_t col = k0 + nt * 8 + t2;
        s[nt][0] = col <= ra ? exp2f(s[nt][0] * sl2 - lsea) * (dp[nt][0] - Da) : 0.0f;
        s[nt][1] = col + 1 <= ra ? exp2f(s[nt][1] * sl2 - lsea) * (dp[nt][1] - Da) : 0.0f;
        s[nt][2] = col <= rb ? exp2f(s[nt][2] * sl2 - lseb) * (dp[nt][2] - Db) : 0.0f;
        s[nt][3] = col + 1 <= rb ? exp2f(s[nt][3] * sl2 - lseb) * (dp[nt][3] - Db) : 0.0f;
      }
      mma_p_v<HS, kBc / 16>(dq, s, Kt, lane);  // dq += dS K
    }
    __syncthreads();
  }
#pragma unroll
  for (int nt = 0; nt < HS / 8; ++nt) {
    const int64_t c = h * HS + nt * 8 + t2;
    if (ra < dm.T) add_pair(dqkv + (b * dm.T + ra) * dm.W + c, dq[nt][0] * scale, dq[nt][1] * scale);
    if (rb < dm.T) add_pair(dqkv + (b * dm.T + rb) * dm.W + c, dq[nt][2] * scale, dq[nt][3] * scale);
  }
}

template <int HS>
__global__ void __launch_bounds__(kThreads, 1)
attention_backward_dkv_mma_kernel(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse, const float* D,
                                  MmaDims dm) {
  constexpr int kBk = kBwdRows, kBq = bwd_step<HS>(), LD = HS + 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Ks = reinterpret_cast<bf16*>(smem_raw);  // (kBk, LD)
  bf16* Vs = Ks + kBk * LD;                       // (kBk, LD)
  bf16* Qs = Vs + kBk * LD;                       // 2 stages of (kBq, LD)
  bf16* dOs = Qs + 2 * kBq * LD;                  // 2 stages of (kBq, LD)
  float* lse_s = reinterpret_cast<float*>(dOs + 2 * kBq * LD);  // 2 stages of (kBq), log2 domain
  float* D_s = lse_s + 2 * kBq;                                  // 2 stages of (kBq)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, t2 = (lane % 4) * 2;
  const int64_t b = blockIdx.z, g = blockIdx.y, j0 = (gridDim.x - 1 - blockIdx.x) * (int64_t)kBk;
  const int64_t group = dm.NH / dm.NKV;
  const bf16* base = qkv + b * dm.T * dm.W;
  const bf16* dout_b = dout + b * dm.T * dm.NH * HS;
  const int64_t ka = j0 + warp * 16 + lane / 4, kb = ka + 8;  // this lane's key rows
  const float scale = rsqrtf(static_cast<float>(HS)), sl2 = scale * kLog2e;
  load_tile_async<HS, kThreads>(Ks, base, j0, kBk, dm.T, dm.W, (dm.NH + g) * HS);
  load_tile_async<HS, kThreads>(Vs, base, j0, kBk, dm.T, dm.W, (dm.NH + dm.NKV + g) * HS);
  // Steps: (query head h, query tile i0) for h in the group, i0 from j0 to T.
  const int per_head = static_cast<int>((dm.T - j0 + kBq - 1) / kBq);
  const int steps = per_head * static_cast<int>(group);
  auto issue = [&](int step, int stage) {
    const int64_t h = g * group + step / per_head, i0 = j0 + (step % per_head) * (int64_t)kBq;
    load_tile_async<HS, kThreads>(Qs + stage * kBq * LD, base, i0, kBq, dm.T, dm.W, h * HS);
    load_tile_async<HS, kThreads>(dOs + stage * kBq * LD, dout_b, i0, kBq, dm.T, dm.NH * HS, h * HS);
    if (threadIdx.x < kBq) {
      const int64_t i = i0 + threadIdx.x;
      lse_s[stage * kBq + threadIdx.x] = i < dm.T ? lse[(b * dm.NH + h) * dm.T + i] * kLog2e : 0.0f;
      D_s[stage * kBq + threadIdx.x] = i < dm.T ? D[(b * dm.NH + h) * dm.T + i] : 0.0f;
    }
    cp_async_commit();
  };
  float dk[HS / 8][4] = {}, dv[HS / 8][4] = {};
  if (steps > 0) issue(0, 0);
  for (int step = 0; step < steps; ++step) {
    if (step + 1 < steps) {
      issue(step + 1, (step + 1) & 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const int stage = step & 1;
    const int64_t i0 = j0 + (step % per_head) * (int64_t)kBq;
    const bf16* Qt = Qs + stage * kBq * LD;
    const bf16* dOt = dOs + stage * kBq * LD;
    const float* lse_t = lse_s + stage * kBq;
    const float* D_t = D_s + stage * kBq;
    if (i0 + kBq - 1 >= j0 + warp * 16) {  // else every query of the tile is before this warp's keys
      float st[kBq / 8][4] = {}, dpt[kBq / 8][4] = {};
#pragma unroll
      for (int kk = 0; kk < HS / 16; kk += 2) {
        uint32_t a0[4], a1[4];
        load_a_smem<HS>(a0, Ks, warp * 16, kk, lane);
        load_a_smem<HS>(a1, Ks, warp * 16, kk + 1, lane);
#pragma unroll
        for (int nt = 0; nt < kBq / 8; ++nt) {
          uint32_t bq[4];
          ldmatrix_x4(bq, Qt + (nt * 8 + lane % 8) * LD + kk * 16 + (lane / 8) * 8);
          mma_bf16_16816(st[nt], a0, bq[0], bq[1]);
          mma_bf16_16816(st[nt], a1, bq[2], bq[3]);
        }
        load_a_smem<HS>(a0, Vs, warp * 16, kk, lane);
        load_a_smem<HS>(a1, Vs, warp * 16, kk + 1, lane);
#pragma unroll
        for (int nt = 0; nt < kBq / 8; ++nt) {
          uint32_t bd[4];
          ldmatrix_x4(bd, dOt + (nt * 8 + lane % 8) * LD + kk * 16 + (lane / 8) * 8);
          mma_bf16_16816(dpt[nt], a0, bd[0], bd[1]);
          mma_bf16_16816(dpt[nt], a1, bd[2], bd[3]);
        }
      }
#pragma unroll
      for (int nt = 0; nt < kBq / 8; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int ci = nt * 8 + t2 + (e & 1);
          const int64_t i = i0 + ci, key = e < 2 ? ka : kb;
          const float p = (i >= key && i < dm.T) ? exp2f(st[nt][e] * sl2 - lse_t[ci]) : 0.0f;
          st[nt][e] = p;
          dpt[nt][e] = p * (dpt[nt][e] - D_t[ci]);
        }
      }
      mma_p_v<HS, kBq / 16>(dv, st, dOt, lane);  // dv += P^T dO
      mma_p_v<HS, kBq / 16>(dk, dpt, Qt, lane);  // dk += dS^T Q
    }
    __syncthreads();
  }
#pragma unroll
  for (int nt = 0; nt < HS / 8; ++nt) {
    const int64_t ck = (dm.NH + g) * HS + nt * 8 + t2, cv = (dm.NH + dm.NKV + g) * HS + nt * 8 + t2;
    if (ka < dm.T) {
      add_pair(dqkv + (b * dm.T + ka) * dm.W + ck, dk[nt][0] * scale, dk[nt][1] * scale);
      add_pair(dqkv + (b * dm.T + ka) * dm.W + cv, dv[nt][0], dv[nt][1]);
    }
    if (kb < dm.T) {
      add_pair(dqkv + (b * dm.T + kb) * dm.W + ck, dk[nt][2] * scale, dk[nt][3] * scale);
      add_pair(dqkv + (b * dm.T + kb) * dm.W + cv, dv[nt][2], dv[nt][3]);
    }
  }
}

template <typename K>
void allow_smem(K kernel, size_t bytes) {
  PRIMUS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

template <int HS>
void forward(bf16* out, float* lse, const bf16* qkv, MmaDims dm, cudaStream_t s) {
  constexpr int kRows = 16 * fwd_mtiles<HS>() * fwd_warps<HS>();
  dim3 grid(static_cast<unsigned>((dm.T + kRows - 1) / kRows), static_cast<unsigned>(dm.NH),
            static_cast<unsigned>(dm.B));
  allow_smem(attention_forward_mma_kernel<HS>, forward_smem_bytes<HS>());
  attention_forward_mma_kernel<HS><<<grid, 32 * fwd_warps<HS>(), forward_smem_bytes<HS>(), s>>>(out, lse, qkv, dm);
  PRIMUS_CUDA_CHECK_LAUNCH();
}

template <int HS>
void backward(bf16* dqkv, const bf16* dout, const bf16* qkv, const bf16* out, const float* lse, float* D, MmaDims dm,
              cudaStream_t s) {
  const unsigned tiles = static_cast<unsigned>((dm.T + kBwdRows - 1) / kBwdRows);
  allow_smem(attention_backward_dq_mma_kernel<HS>, dq_smem_bytes<HS>());
  attention_backward_dq_mma_kernel<HS><<<dim3(tiles, (unsigned)dm.NH, (unsigned)dm.B), kThreads, dq_smem_bytes<HS>(),
                                         s>>>(dqkv, D, dout, qkv, out, lse, dm);
  PRIMUS_CUDA_CHECK_LAUNCH();
  allow_smem(attention_backward_dkv_mma_kernel<HS>, dkv_smem_bytes<HS>());
  attention_backward_dkv_mma_kernel<HS><<<dim3(tiles, (unsigned)dm.NKV, (unsigned)dm.B), kThreads,
                                          dkv_smem_bytes<HS>(), s>>>(dqkv, dout, qkv, lse, D, dm);
  PRIMUS_CUDA_CHECK_LAUNCH();
}

}  // namespace

void attention_forward_mma_launch(void* out, float* lse, const void* qkv, int64_t B, int64_t T, int64_t NH,
                                  int64_t NKV, int64_t HS, cudaStream_t s) {
  MmaDims dm{B, T, NH, NKV, (NH + 2 * NKV) * HS};
  if (HS == 64) forward<64>(static_cast<bf16*>(out), lse, static_cast<const bf16*>(qkv), dm, s);
  else forward<128>(static_cast<bf16*>(out), lse, static_cast<const bf16*>(qkv), dm, s);
}

void attention_backward_mma_launch(void* dqkv, const void* dout, const void* qkv, const void* out, const float* lse,
                                   float* D, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS,
                                   cudaStream_t s) {
  MmaDims dm{B, T, NH, NKV, (NH + 2 * NKV) * HS};
  auto* dq = static_cast<bf16*>(dqkv);
  auto* dy = static_cast<const bf16*>(dout);
  auto* x = static_cast<const bf16*>(qkv);
  auto* y = static_cast<const bf16*>(out);
  if (HS == 64) backward<64>(dq, dy, x, y, lse, D, dm, s);
  else backward<128>(dq, dy, x, y, lse, D, dm, s);
}

}  // namespace primus::cuda
