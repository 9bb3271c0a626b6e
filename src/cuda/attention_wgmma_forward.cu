// Flash attention forward on Hopper warpgroup MMA (wgmma, sm_90a), bf16 packed qkv, causal,
// grouped-query, head sizes 64 and 128: a block owns 128 query rows of one head (two warpgroups of
// 64 rows), streams 64-key tiles of K and V through shared memory (cp.async, double-buffered,
// shared by both warpgroups) with an online softmax in registers: S = Q K^T (A = Q, B = K, both K-major in shared memory), O += P V (A = P
// from registers, B = V read MN-major). Writes out and lse (natural log) as
// attention_forward_launch documents. Only built for sm_90a; attention.cu calls it on compute
// capability 9.x, the mma.sync kernel (attention_forward_mma.cu) stays the fallback.
#include <cstdlib>

#include "cuda/attention_wgmma.cuh"

namespace primus::cuda {
namespace {

// kWG warpgroups a block, 64 query rows each, sharing the K/V tiles: Q (kWG x HS/64 sub-tiles),
// 2 stages of K and V, and 1024 bytes to align the start.
template <int HS, int kWG>
constexpr size_t wg_fwd_smem_bytes() {
  return 1024 + (kWG + 2 * 2) * (HS / 64) * kSubTile;
}

template <int HS, int kWG>
__global__ void __launch_bounds__(kWgThreads * kWG)
attention_forward_wgmma_kernel(bf16* out, float* lse, const bf16* qkv, MmaDims dm) {
#ifdef PRIMUS_WGMMA
  constexpr int kH = HS / 64, kThreads = kWgThreads * kWG;
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  unsigned char* Qs = smem_1024(smem_raw);          // kWG tiles
  unsigned char* Ks = Qs + kWG * kH * kSubTile;     // 2 stages
  unsigned char* Vs = Ks + 2 * kH * kSubTile;       // 2 stages
  const int wg = threadIdx.x / kWgThreads;
  const uint32_t Qs_a = smem_u32(Qs) + wg * kH * kSubTile, Ks_a = smem_u32(Ks), Vs_a = smem_u32(Vs);
  const int lane = threadIdx.x % 32, warp = (threadIdx.x / 32) % 4, t2 = (lane % 4) * 2;
  const int64_t b = blockIdx.z, h = blockIdx.y;
  const int64_t q0 = (gridDim.x - 1 - blockIdx.x) * (int64_t)(kWgRows * kWG);  // heavy first
  const int64_t qw = q0 + wg * kWgRows;   // this warpgroup's first row
  const int last = static_cast<int>(qw / kWgRows);  // its diagonal tile; later tiles are all masked
  const int64_t g = h / (dm.NH / dm.NKV);
  const bf16* base = qkv + b * dm.T * dm.W;
  const int64_t kcol = (dm.NH + g) * HS, vcol = (dm.NH + dm.NKV + g) * HS;
  const int ra_l = 16 * warp + lane / 4;  // this lane's rows in the warpgroup's tile: ra_l, ra_l + 8
  const int64_t ra = qw + ra_l, rb = ra + 8;
  const int tiles = static_cast<int>((min(dm.T, q0 + kWgRows * kWG) + kWgRows - 1) / kWgRows);
#pragma unroll
  for (int w = 0; w < kWG; ++w)
    load_tile_swizzled<HS, kThreads>(Qs + w * kH * kSubTile, base, q0 + w * kWgRows, dm.T, dm.W, h * HS);
  load_tile_swizzled<HS, kThreads>(Ks, base, 0, dm.T, dm.W, kcol);
  load_tile_swizzled<HS, kThreads>(Vs, base, 0, dm.T, dm.W, vcol);
  cp_async_commit();
  float o[kH][32];
#pragma unroll
  for (int hh = 0; hh < kH; ++hh) {
#pragma unroll
    for (int i = 0; i < 32; ++i) o[hh][i] = 0.0f;
  }
  float ma = -INFINITY, mb = -INFINITY, la = 0.0f, lb = 0.0f;  // log2 domain; per-lane partial sums
  const float sl2 = rsqrtf(static_cast<float>(HS)) * kLog2e;
  for (int it = 0; it < tiles; ++it) {
    const int64_t k0 = it * (int64_t)kWgRows;
    if (it + 1 < tiles) {
      const int stn = (it + 1) & 1;
      load_tile_swizzled<HS, kThreads>(Ks + stn * kH * kSubTile, base, k0 + kWgRows, dm.T, dm.W, kcol);
      load_tile_swizzled<HS, kThreads>(Vs + stn * kH * kSubTile, base, k0 + kWgRows, dm.T, dm.W, vcol);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    fence_proxy_async();
    __syncthreads();
    const uint32_t Kt = Ks_a + (it & 1) * kH * kSubTile, Vt = Vs_a + (it & 1) * kH * kSubTile;
    if (it <= last) {  // uniform in the warpgroup
    float s[32];  // (64 queries, 64 keys)
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < HS / 16; ++kk) wgmma_ss<0, 0>(s, desc_k(Qs_a, kk), desc_k(Kt, kk), kk > 0);
    wgmma_commit();
    wgmma_wait<0>();
    wgmma_fence_operands(s);
    if (it == last) {  // the diagonal tile (keys past T are after every row before T)
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int64_t col = k0 + 8 * i + t2;
        s[4 * i] = col > ra ? -INFINITY : s[4 * i];
        s[4 * i + 1] = col + 1 > ra ? -INFINITY : s[4 * i + 1];
        s[4 * i + 2] = col > rb ? -INFINITY : s[4 * i + 2];
        s[4 * i + 3] = col + 1 > rb ? -INFINITY : s[4 * i + 3];
      }
    }
    float mxa = -INFINITY, mxb = -INFINITY;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      mxa = fmaxf(mxa, fmaxf(s[4 * i], s[4 * i + 1]));
      mxb = fmaxf(mxb, fmaxf(s[4 * i + 2], s[4 * i + 3]));
    }
#pragma unroll
    for (int o2 = 1; o2 < 4; o2 <<= 1) {
      mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, o2));
      mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, o2));
    }
    // Every row has key 0 <= row in the first tile, so the maxima are finite from the start.
    const float na = fmaxf(ma, mxa * sl2), nb = fmaxf(mb, mxb * sl2);
    const float ca = exp2_ftz(ma - na), cb = exp2_ftz(mb - nb);
    ma = na;
    mb = nb;
    float suma = 0.0f, sumb = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      s[4 * i] = exp2_ftz(fmaf(s[4 * i], sl2, -na));
      s[4 * i + 1] = exp2_ftz(fmaf(s[4 * i + 1], sl2, -na));
      s[4 * i + 2] = exp2_ftz(fmaf(s[4 * i + 2], sl2, -nb));
      s[4 * i + 3] = exp2_ftz(fmaf(s[4 * i + 3], sl2, -nb));
      suma += s[4 * i] + s[4 * i + 1];
      sumb += s[4 * i + 2] + s[4 * i + 3];
    }
    la = la * ca + suma;
    lb = lb * cb + sumb;
#pragma unroll
    for (int hh = 0; hh < kH; ++hh) {
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        o[hh][4 * i] *= ca;
        o[hh][4 * i + 1] *= ca;
        o[hh][4 * i + 2] *= cb;
        o[hh][4 * i + 3] *= cb;
      }
    }
    uint32_t pa[4][4];
    acc_to_a(pa, s);
    wgmma_fence();
#pragma unroll
    for (int hh = 0; hh < kH; ++hh) {
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) wgmma_rs<1>(o[hh], pa[kk], desc_mn(Vt, hh, kk), true);
    }
    wgmma_commit();
    wgmma_wait<0>();
#pragma unroll
    for (int hh = 0; hh < kH; ++hh) wgmma_fence_operands(o[hh]);
    }
    __syncthreads();  // the next iteration's copies overwrite this stage
  }
#pragma unroll
  for (int o2 = 1; o2 < 4; o2 <<= 1) {
    la += __shfl_xor_sync(0xffffffffu, la, o2);
    lb += __shfl_xor_sync(0xffffffffu, lb, o2);
  }
  const float ia = 1.0f / la, ib = 1.0f / lb;
#pragma unroll
  for (int hh = 0; hh < kH; ++hh) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int64_t c = h * HS + hh * 64 + 8 * i + t2;
      if (ra < dm.T)
        *reinterpret_cast<uint32_t*>(out + (b * dm.T + ra) * dm.NH * HS + c) =
            pack_bf16(o[hh][4 * i] * ia, o[hh][4 * i + 1] * ia);
      if (rb < dm.T)
        *reinterpret_cast<uint32_t*>(out + (b * dm.T + rb) * dm.NH * HS + c) =
            pack_bf16(o[hh][4 * i + 2] * ib, o[hh][4 * i + 3] * ib);
    }
  }
  if (lane % 4 == 0) {
    if (ra < dm.T) lse[(b * dm.NH + h) * dm.T + ra] = (ma + log2f(la)) / kLog2e;
    if (rb < dm.T) lse[(b * dm.NH + h) * dm.T + rb] = (mb + log2f(lb)) / kLog2e;
  }
#else
  __trap();  // launched only on compute capability 9.x, which runs the sm_90a build
#endif
}

template <int HS, int kWG>
void forward_wgmma(bf16* out, float* lse, const bf16* qkv, MmaDims dm, cudaStream_t s) {
  constexpr int kRows = kWgRows * kWG;
  dim3 grid(static_cast<unsigned>((dm.T + kRows - 1) / kRows), static_cast<unsigned>(dm.NH),
            static_cast<unsigned>(dm.B));
  constexpr size_t smem = wg_fwd_smem_bytes<HS, kWG>();
  allow_smem(attention_forward_wgmma_kernel<HS, kWG>, smem);
  attention_forward_wgmma_kernel<HS, kWG><<<grid, kWgThreads * kWG, smem, s>>>(out, lse, qkv, dm);
  PRIMUS_CUDA_CHECK_LAUNCH();
}

// Warpgroups a forward block (PRIMUS_ATTENTION_WGMMA_FWD_WG=1 or 2, for comparisons): 0 = default.
int forward_warpgroups() {
  static const int n = [] {
    const char* v = std::getenv("PRIMUS_ATTENTION_WGMMA_FWD_WG");
    return v == nullptr ? 0 : std::atoi(v);
  }();
  return n;
}

}  // namespace

bool attention_wgmma_device() {
  static const bool yes = [] {
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return false;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) return false;
    return major == 9;
  }();
  return yes;
}

void attention_forward_wgmma_launch(void* out, float* lse, const void* qkv, int64_t B, int64_t T, int64_t NH,
                                    int64_t NKV, int64_t HS, cudaStream_t s) {
  MmaDims dm{B, T, NH, NKV, (NH + 2 * NKV) * HS};
  auto* o = static_cast<bf16*>(out);
  auto* x = static_cast<const bf16*>(qkv);
  // Two warpgroups (128 queries) a block: on an H200 242 / 543 / 1117 us against 257 / 605 / 1164 us
  // with one at the GPT-2, Llama HS 64 and HS 128 shapes (HS 128 despite one block an SM).
  const int wgs = forward_warpgroups() == 1 ? 1 : 2;
  if (HS == 64) wgs == 1 ? forward_wgmma<64, 1>(o, lse, x, dm, s) : forward_wgmma<64, 2>(o, lse, x, dm, s);
  else wgs == 1 ? forward_wgmma<128, 1>(o, lse, x, dm, s) : forward_wgmma<128, 2>(o, lse, x, dm, s);
}

}  // namespace primus::cuda
