// Flash attention backward on Hopper warpgroup MMA (wgmma, sm_90a), bf16 packed qkv, causal,
// grouped-query, head sizes 64 and 128: the one-pass order of attention_backward_onepass.cu (a
// block owns 64 key rows of one KV head, streams the 64-query tiles of the group's query heads,
// keeps dk and dv in registers and adds each step's dq tile into the fp32 dq_acc; the same prepare
// kernel before it, its own dq kernel after), with the five products per tile on wgmma:
//   S^T = K Q^T and dP^T = V dO^T   (A, B K-major in shared memory),
//   dV += P^T dO and dK += dS^T Q    (A from registers: the S^T / dP^T accumulators as bf16;
//                                     B = dO / Q read MN-major from the same tiles),
//   dQ = dS K                        (A = dS^T stored to shared memory, read MN-major; B = K MN-major).
// One warpgroup a block; Q, dO, lse, D double-buffered by cp.async. The dq tile goes through
// shared memory (the step's Q and dO buffers, free by then) and two bulk asynchronous reductions
// (cp.reduce.async.bulk .add.f32) into dq_acc: 712 against 759 us with per-element atomics at the
// GPT-2 shape on an H200 (1505 / 1663 and 2859 / 3197 us at the Llama HS 64 / 128 shapes). Only built for sm_90a; the
// launcher is called for compute capability 9.x (attention.cu), the other kernels stay the fallback.
#include <cmath>
#include <cstdlib>
#include <string>

#include "cuda/attention_wgmma.cuh"

namespace primus::cuda {
namespace {

// K, V (HS/64 sub-tiles each), 2 stages of Q and dO, dS^T (one sub-tile), 2 stages of lse and D,
// and 1024 bytes to align the start.
template <int HS>
constexpr size_t wg_bwd_smem_bytes() {
  return 1024 + (2 + 2 * 2) * (HS / 64) * kSubTile + kSubTile + 4 * kWgRows * sizeof(float);
}

// dq_acc layouts. kBulkDq: (B,NH,T,HS) with the float pairs of row t permuted (pair p stored at
// p ^ 4*(t%8): conflict-free shared stores), each step's 64 x HS tile added by two bulk reductions
// from shared memory; else (B,T,NH,HS) by per-element atomics.
__device__ __forceinline__ int64_t dq_bulk_index(int64_t bh, int64_t T, int64_t t, int c, int HS) {
  return (bh * T + t) * HS + 2 * ((c / 2) ^ ((static_cast<int>(t) & 7) * 4)) + (c & 1);
}

// dqkv[b, t, h*HS + c] += scale * dq_acc (the kBulkDq layout); one thread per 8 elements.
template <int HS>
__global__ void attention_backward_dq_bulk_kernel(bf16* dqkv, const float* dq_acc, MmaDims dm, float scale) {
  const int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;  // over B*T*NH*HS/8
  const int64_t per_token = dm.NH * HS / 8;
  if (idx >= dm.B * dm.T * per_token) return;
  const int64_t bt = idx / per_token, c = (idx % per_token) * 8, b = bt / dm.T, t = bt % dm.T, h = c / HS;
  const float4* src = reinterpret_cast<const float4*>(dq_acc + dq_bulk_index(b * dm.NH + h, dm.T, t, c % HS, HS));
  const float4 a = src[0], e = src[1];
  uint4* dst = reinterpret_cast<uint4*>(dqkv + bt * dm.W + c);
  uint4 d = *dst;
  const float2 d0 = unpack_bf16(d.x), d1 = unpack_bf16(d.y), d2 = unpack_bf16(d.z), d3 = unpack_bf16(d.w);
  d.x = pack_bf16(d0.x + scale * a.x, d0.y + scale * a.y);
  d.y = pack_bf16(d1.x + scale * a.z, d1.y + scale * a.w);
  d.z = pack_bf16(d2.x + scale * e.x, d2.y + scale * e.y);
  d.w = pack_bf16(d3.x + scale * e.z, d3.y + scale * e.w);
  *dst = d;
}

template <int HS, bool kBulkDq>
__global__ void __launch_bounds__(kWgThreads, HS == 64 ? 3 : 2)
attention_backward_wgmma_kernel(bf16* dqkv, float* dq_acc, const bf16* dout, const bf16* qkv, const float* lse,
                                const float* D, MmaDims dm) {
#ifdef PRIMUS_WGMMA
  constexpr int kH = HS / 64;  // 64-column sub-tiles of a row
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  unsigned char* Ks = smem_1024(smem_raw);
  unsigned char* Vs = Ks + kH * kSubTile;
  unsigned char* Qs = Vs + kH * kSubTile;       // 2 stages
  unsigned char* dOs = Qs + 2 * kH * kSubTile;  // 2 stages
  unsigned char* dSs = dOs + 2 * kH * kSubTile;  // dS^T: [64 keys][64 queries], swizzled
  float* lse_s = reinterpret_cast<float*>(dSs + kSubTile);  // 2 stages of 64, log2 domain
  float* D_s = lse_s + 2 * kWgRows;                         // 2 stages of 64
  const uint32_t Ks_a = smem_u32(Ks), Vs_a = smem_u32(Vs), Qs_a = smem_u32(Qs), dOs_a = smem_u32(dOs),
                 dSs_a = smem_u32(dSs);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, t2 = (lane % 4) * 2, g4 = lane / 4;
  const int64_t b = blockIdx.z, g = blockIdx.y, j0 = blockIdx.x * (int64_t)kWgRows;  // low j0 = most work: first
  const int64_t group = dm.NH / dm.NKV;
  const bf16* base = qkv + b * dm.T * dm.W;
  const bf16* dout_b = dout + b * dm.T * dm.NH * HS;
  const int kr = 16 * warp + g4;                  // this lane's key rows in the tile: kr, kr + 8
  const int64_t ka = j0 + kr, kb = ka + 8;
  const float scale = rsqrtf(static_cast<float>(HS)), sl2 = scale * kLog2e;
  load_tile_swizzled<HS>(Ks, base, j0, dm.T, dm.W, (dm.NH + g) * HS);
  load_tile_swizzled<HS>(Vs, base, j0, dm.T, dm.W, (dm.NH + dm.NKV + g) * HS);
  // Steps: (query head h, query tile i0) for h in the group, i0 from j0 to T.
  const int per_head = static_cast<int>((dm.T - j0 + kWgRows - 1) / kWgRows);
  const int steps = per_head * static_cast<int>(group);
  auto issue = [&](int step, int stage) {
    const int64_t h = g * group + step / per_head, i0 = j0 + (step % per_head) * (int64_t)kWgRows;
    load_tile_swizzled<HS>(Qs + stage * kH * kSubTile, base, i0, dm.T, dm.W, h * HS);
    load_tile_swizzled<HS>(dOs + stage * kH * kSubTile, dout_b, i0, dm.T, dm.NH * HS, h * HS);
    if (threadIdx.x < kWgRows) {
      const int64_t i = i0 + threadIdx.x;
      lse_s[stage * kWgRows + threadIdx.x] = i < dm.T ? lse[(b * dm.NH + h) * dm.T + i] * kLog2e : 0.0f;
      D_s[stage * kWgRows + threadIdx.x] = i < dm.T ? D[(b * dm.NH + h) * dm.T + i] : 0.0f;
    }
    cp_async_commit();
  };
  float dk[kH][32], dv[kH][32];
#pragma unroll
  for (int hh = 0; hh < kH; ++hh) {
#pragma unroll
    for (int i = 0; i < 32; ++i) dk[hh][i] = dv[hh][i] = 0.0f;
  }
  if (steps > 0) issue(0, 0);
  for (int step = 0; step < steps; ++step) {
    if (step + 1 < steps) {
      issue(step + 1, (step + 1) & 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    fence_proxy_async();
    __syncthreads();
    const int stage = step & 1;
    const int64_t h = g * group + step / per_head, i0 = j0 + (step % per_head) * (int64_t)kWgRows;
    const uint32_t Qt = Qs_a + stage * kH * kSubTile, dOt = dOs_a + stage * kH * kSubTile;
    const float* lse_t = lse_s + stage * kWgRows;
    const float* D_t = D_s + stage * kWgRows;
    float st[32], dpt[32];  // S^T, dP^T: (64 keys, 64 queries)
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < HS / 16; ++kk) wgmma_ss<0, 0>(st, desc_k(Ks_a, kk), desc_k(Qt, kk), kk > 0);
    wgmma_commit();
#pragma unroll
    for (int kk = 0; kk < HS / 16; ++kk) wgmma_ss<0, 0>(dpt, desc_k(Vs_a, kk), desc_k(dOt, kk), kk > 0);
    wgmma_commit();
    wgmma_wait<1>();
    wgmma_fence_operands(st);
    // Only the diagonal tile and tiles reaching past T need the mask.
    const bool masked = i0 == j0 || i0 + kWgRows > dm.T;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int ci = 8 * i + t2 + (e & 1);
        float p = exp2_ftz(fmaf(st[4 * i + e], sl2, -lse_t[ci]));
        if (masked) {
          const int64_t q = i0 + ci, key = e < 2 ? ka : kb;
          p = (q >= key && q < dm.T) ? p : 0.0f;
        }
        st[4 * i + e] = p;
      }
    }
    wgmma_wait<0>();
    wgmma_fence_operands(dpt);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
#pragma unroll
      for (int e = 0; e < 4; ++e) dpt[4 * i + e] = st[4 * i + e] * (dpt[4 * i + e] - D_t[8 * i + t2 + (e & 1)]);
    }
    uint32_t pa[4][4], sa[4][4];
    acc_to_a(pa, st);
    acc_to_a(sa, dpt);
    wgmma_fence();
#pragma unroll
    for (int hh = 0; hh < kH; ++hh) {
#pragma unroll
      for (int kq = 0; kq < 4; ++kq) wgmma_rs<1>(dv[hh], pa[kq], desc_mn(dOt, hh, kq), true);
    }
#pragma unroll
    for (int hh = 0; hh < kH; ++hh) {
#pragma unroll
      for (int kq = 0; kq < 4; ++kq) wgmma_rs<1>(dk[hh], sa[kq], desc_mn(Qt, hh, kq), true);
    }
    wgmma_commit();
    // dS^T to shared memory (the same bf16 values as the dK product's A) for dQ = dS K.
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      *reinterpret_cast<uint32_t*>(dSs + swizzle_offset(kr, 8 * i + t2)) = sa[i / 2][(i % 2) * 2];
      *reinterpret_cast<uint32_t*>(dSs + swizzle_offset(kr + 8, 8 * i + t2)) = sa[i / 2][(i % 2) * 2 + 1];
    }
    fence_proxy_async();
    __syncthreads();  // dS^T of every warp is in shared memory
    const int64_t qa = i0 + 16 * warp + g4, qb = qa + 8;
#pragma unroll
    for (int hh = 0; hh < kH; ++hh) {
      float dq[32];  // (64 queries, 64 columns hh*64..)
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) wgmma_ss<1, 1>(dq, desc_mn(dSs_a, 0, kk), desc_mn(Ks_a, hh, kk), kk > 0);
      wgmma_commit();
      wgmma_wait<0>();
      wgmma_fence_operands(dq);
      if constexpr (kBulkDq) {
        // Tile rows 0-31 (warps 0, 1) go to this stage's Q tile, rows 32-63 to its dO tile (each
        // 32*HS*4 bytes), free once every warp's dV and dK products are done.
        if (hh == 0) __syncthreads();
        float* rows = reinterpret_cast<float*>((warp < 2 ? Qs : dOs) + stage * kH * kSubTile) + (kr % 32) * HS;
        const int sw = g4 * 4;  // 4 * (row % 8) for both rows kr and kr + 8
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const int pair = (hh * 32 + 4 * i + lane % 4) ^ sw;
          *reinterpret_cast<float2*>(rows + 2 * pair) = make_float2(dq[4 * i], dq[4 * i + 1]);
          *reinterpret_cast<float2*>(rows + 8 * HS + 2 * pair) = make_float2(dq[4 * i + 2], dq[4 * i + 3]);
        }
      } else {
        float* row_a = dq_acc + ((b * dm.T + qa) * dm.NH + h) * HS + hh * 64 + t2;
        float* row_b = row_a + 8 * dm.NH * HS;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          if (qa < dm.T) atomic_add_pair(row_a + 8 * i, dq[4 * i], dq[4 * i + 1]);
          if (qb < dm.T) atomic_add_pair(row_b + 8 * i, dq[4 * i + 2], dq[4 * i + 3]);
        }
      }
    }
    if constexpr (kBulkDq) {
      fence_proxy_async();
      __syncthreads();  // the dq tile is in shared memory
      if (threadIdx.x == 0) {
        float* dst = dq_acc + ((b * dm.NH + h) * dm.T + i0) * HS;
#pragma unroll
        for (int part = 0; part < 2; ++part) {
          const int64_t n = dm.T - i0 - 32 * part < 32 ? dm.T - i0 - 32 * part : 32;
          if (n > 0)
            bulk_reduce_add_f32(dst + 32 * part * HS, (part == 0 ? Qs_a : dOs_a) + stage * kH * kSubTile,
                                static_cast<uint32_t>(n * HS * sizeof(float)));
        }
        bulk_commit();
        bulk_wait_read();  // before the barrier: the next step's copies overwrite this stage
      }
    }
    __syncthreads();  // the next step's copies overwrite this stage and dS^T
  }
  if constexpr (kBulkDq) {
    if (threadIdx.x == 0) bulk_wait();
  }
#pragma unroll
  for (int hh = 0; hh < kH; ++hh) {
    wgmma_fence_operands(dk[hh]);
    wgmma_fence_operands(dv[hh]);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int64_t c = hh * 64 + 8 * i + t2;
      const int64_t ck = (dm.NH + g) * HS + c, cv = (dm.NH + dm.NKV + g) * HS + c;
      if (ka < dm.T) {
        add_pair(dqkv + (b * dm.T + ka) * dm.W + ck, dk[hh][4 * i] * scale, dk[hh][4 * i + 1] * scale);
        add_pair(dqkv + (b * dm.T + ka) * dm.W + cv, dv[hh][4 * i], dv[hh][4 * i + 1]);
      }
      if (kb < dm.T) {
        add_pair(dqkv + (b * dm.T + kb) * dm.W + ck, dk[hh][4 * i + 2] * scale, dk[hh][4 * i + 3] * scale);
        add_pair(dqkv + (b * dm.T + kb) * dm.W + cv, dv[hh][4 * i + 2], dv[hh][4 * i + 3]);
      }
    }
  }
#else
  __trap();  // launched only on compute capability 9.x, which runs the sm_90a build
#endif
}

template <int HS, bool kBulkDq>
void backward_wgmma(bf16* dqkv, float* dq_acc, const bf16* dout, const bf16* qkv, const float* lse, const float* D,
                    MmaDims dm, cudaStream_t s) {
  constexpr size_t smem = wg_bwd_smem_bytes<HS>();
  const unsigned tiles = static_cast<unsigned>((dm.T + kWgRows - 1) / kWgRows);
  allow_smem(attention_backward_wgmma_kernel<HS, kBulkDq>, smem);
  attention_backward_wgmma_kernel<HS, kBulkDq><<<dim3(tiles, (unsigned)dm.NKV, (unsigned)dm.B), kWgThreads, smem, s>>>(
      dqkv, dq_acc, dout, qkv, lse, D, dm);
  PRIMUS_CUDA_CHECK_LAUNCH();
  if constexpr (kBulkDq) {
    const int64_t chunks = dm.B * dm.T * dm.NH * HS / 8;
    attention_backward_dq_bulk_kernel<HS><<<static_cast<unsigned>((chunks + 255) / 256), 256, 0, s>>>(
        dqkv, dq_acc, dm, 1.0f / std::sqrt(static_cast<float>(HS)));
    PRIMUS_CUDA_CHECK_LAUNCH();
  }
}

// PRIMUS_ATTENTION_WGMMA_DQ=atomic: dq by per-element atomics (the first version) instead of bulk
// reductions, for comparisons; read once.
bool dq_atomics() {
  static const bool yes = [] {
    const char* v = std::getenv("PRIMUS_ATTENTION_WGMMA_DQ");
    return v != nullptr && std::string(v) == "atomic";
  }();
  return yes;
}

}  // namespace

bool attention_backward_wgmma_main_launch(void* dqkv, float* dq_acc, const void* dout, const void* qkv,
                                          const float* lse, const float* D, int64_t B, int64_t T, int64_t NH,
                                          int64_t NKV, int64_t HS, cudaStream_t s) {
  MmaDims dm{B, T, NH, NKV, (NH + 2 * NKV) * HS};
  auto* dq = static_cast<bf16*>(dqkv);
  auto* dy = static_cast<const bf16*>(dout);
  auto* x = static_cast<const bf16*>(qkv);
  const bool atomics = dq_atomics();
  if (HS == 64) atomics ? backward_wgmma<64, false>(dq, dq_acc, dy, x, lse, D, dm, s)
                        : backward_wgmma<64, true>(dq, dq_acc, dy, x, lse, D, dm, s);
  else atomics ? backward_wgmma<128, false>(dq, dq_acc, dy, x, lse, D, dm, s)
               : backward_wgmma<128, true>(dq, dq_acc, dy, x, lse, D, dm, s);
  return !atomics;
}

}  // namespace primus::cuda
