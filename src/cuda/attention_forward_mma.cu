// Flash attention forward on tensor cores (mma.sync m16n8k16, bf16 in, fp32 accumulate) for bf16
// packed qkv, causal, grouped-query, head sizes 64 and 128: a block owns 128 query rows (16 or 32
// per warp) and streams 64-key tiles of K and V through shared memory (cp.async, double-buffered)
// with an online softmax in registers (FlashAttention-2), so the T x T matrix never exists.
// Writes out and lse (natural log), as attention_forward_launch documents.
#include "cuda/attention_mma.cuh"

namespace primus::cuda {
namespace {

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

// One online-softmax step for an m-tile of raw scores s (16 x kBc): masks keys after each row
// (rows ra, ra+8) when kMask, updates the running max m (log2 domain) and per-lane partial sums
// l, rescales o, and leaves the probabilities in s. The scale sl2 = log2(e)/sqrt(HS) rides on
// the exponent's fma; the exponential flushes subnormals. kLegacy keeps the earlier arithmetic
// (scale first, exp2f, every tile masked).
template <int HS, int NT, bool kMask, bool kLegacy>
__device__ __forceinline__ void softmax_step(float (&s)[NT][4], float (&o)[HS / 8][4], float (&m)[2], float (&l)[2],
                                             int k0, int ra, int t2, float sl2) {
  const int rb = ra + 8;
  float mxa = -INFINITY, mxb = -INFINITY;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    if (kMask) {
      const int col = k0 + nt * 8 + t2;
      s[nt][0] = col > ra ? -INFINITY : s[nt][0];
      s[nt][1] = col + 1 > ra ? -INFINITY : s[nt][1];
      s[nt][2] = col > rb ? -INFINITY : s[nt][2];
      s[nt][3] = col + 1 > rb ? -INFINITY : s[nt][3];
    }
    if (kLegacy) {
#pragma unroll
      for (int e = 0; e < 4; ++e) s[nt][e] *= sl2;
    }
    mxa = fmaxf(mxa, fmaxf(s[nt][0], s[nt][1]));
    mxb = fmaxf(mxb, fmaxf(s[nt][2], s[nt][3]));
  }
#pragma unroll
  for (int o2 = 1; o2 < 4; o2 <<= 1) {
    mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, o2));
    mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, o2));
  }
  const float f = kLegacy ? 1.0f : sl2;  // scale still to apply to s
  const float na = fmaxf(m[0], mxa * f), nb = fmaxf(m[1], mxb * f);
  const float ca = exp2f(m[0] - na), cb = exp2f(m[1] - nb);
  m[0] = na;
  m[1] = nb;
  float suma = 0.0f, sumb = 0.0f;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    if (kLegacy) {
      s[nt][0] = exp2f(s[nt][0] - na);
      s[nt][1] = exp2f(s[nt][1] - na);
      s[nt][2] = exp2f(s[nt][2] - nb);
      s[nt][3] = exp2f(s[nt][3] - nb);
    } else {
      s[nt][0] = exp2_ftz(fmaf(s[nt][0], sl2, -na));
      s[nt][1] = exp2_ftz(fmaf(s[nt][1], sl2, -na));
      s[nt][2] = exp2_ftz(fmaf(s[nt][2], sl2, -nb));
      s[nt][3] = exp2_ftz(fmaf(s[nt][3], sl2, -nb));
    }
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

// kMaskAll: every tile through the masked softmax (one copy of the code instead of two): head
// size 128 ran 5.6% faster so on an H200 (64 keeps the unmasked copy; one copy not measured there).
template <int HS, bool kLegacy, bool kMaskAll>
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
      // Only tiles with a key after the warp's first row (the diagonal, or keys past T) need the mask.
      if (kLegacy || kMaskAll || k0 + kBc - 1 > w0) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
          softmax_step<HS, kBc / 8, true, kLegacy>(s[mt], o[mt], m[mt], l[mt], (int)k0, (int)(w0 + 16 * mt) + lane / 4,
                                                   t2, sl2);
      } else {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
          softmax_step<HS, kBc / 8, false, kLegacy>(s[mt], o[mt], m[mt], l[mt], (int)k0,
                                                    (int)(w0 + 16 * mt) + lane / 4, t2, sl2);
      }
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

template <int HS, bool kLegacy, bool kMaskAll = (HS == 128)>
void forward(bf16* out, float* lse, const bf16* qkv, MmaDims dm, cudaStream_t s) {
  constexpr int kRows = 16 * fwd_mtiles<HS>() * fwd_warps<HS>();
  dim3 grid(static_cast<unsigned>((dm.T + kRows - 1) / kRows), static_cast<unsigned>(dm.NH),
            static_cast<unsigned>(dm.B));
  allow_smem(attention_forward_mma_kernel<HS, kLegacy, kMaskAll>, forward_smem_bytes<HS>());
  attention_forward_mma_kernel<HS, kLegacy, kMaskAll><<<grid, 32 * fwd_warps<HS>(), forward_smem_bytes<HS>(), s>>>(out, lse, qkv,
                                                                                                        dm);
  PRIMUS_CUDA_CHECK_LAUNCH();
}

}  // namespace

void attention_forward_mma_launch(void* out, float* lse, const void* qkv, int64_t B, int64_t T, int64_t NH,
                                  int64_t NKV, int64_t HS, cudaStream_t s) {
  MmaDims dm{B, T, NH, NKV, (NH + 2 * NKV) * HS};
  auto* o = static_cast<bf16*>(out);
  auto* x = static_cast<const bf16*>(qkv);
  const bool legacy = attention_legacy_kernels();
  if (HS == 64) legacy ? forward<64, true>(o, lse, x, dm, s) : forward<64, false>(o, lse, x, dm, s);
  else legacy ? forward<128, true>(o, lse, x, dm, s) : forward<128, false>(o, lse, x, dm, s);
}

}  // namespace primus::cuda
