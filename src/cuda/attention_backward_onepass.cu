// Flash attention backward on tensor cores in one pass over the key tiles (FlashAttention-2's
// order), bf16 packed qkv, causal, grouped-query, head sizes 64 and 128. Three kernels:
//   1. attention_backward_prepare_kernel: D = rowsum(dout * out) and dq_acc = 0;
//   2. attention_backward_onepass_kernel: per 64 key rows of one KV head, streams the query tiles
//      of the group's query heads, recomputes P from the saved log-sum-exp, keeps dk and dv in
//      registers, and adds dq = dS K of each tile into the fp32 dq_acc (B,T,NH,HS) with atomics;
//   3. attention_backward_dq_kernel: dqkv's q part += scale * dq_acc.
// Five tensor-core products per tile (S, dP, dV, dK, dQ) where the two-pass backward
// (attention_backward_mma.cu) recomputes S and dP in both of its kernels (seven). dq's sum order
// depends on the atomics' order, so dq is not bitwise deterministic; dk and dv are.
// The T x T matrix never exists. dqkv accumulates.
#include <cmath>

#include "cuda/attention_mma.cuh"

namespace primus::cuda {
namespace {

// A block of kWarps warps owns 16 * kWarps key rows (16 a warp) and takes kBq queries a step.
template <int HS, int kWarps, int kBq>
constexpr size_t onepass_smem_bytes() {
  constexpr int kBk = 16 * kWarps;
  return (2 * kBk + 2 * 2 * kBq) * (HS + 8) * sizeof(bf16)  // K, V; 2 stages of Q, dO
         + kBk * (kBq + 8) * sizeof(bf16)                   // dS^T (keys, queries)
         + 2 * 2 * kBq * sizeof(float);                     // 2 stages of lse, D
}

// D (B,NH,T) = rowsum(dout * out) over each head's HS; dq_acc (B,T,NH,HS) = 0. One thread per 8
// elements; the HS/8 threads of a (token, head) row are consecutive lanes.
template <int HS>
__global__ void attention_backward_prepare_kernel(float* D, float* dq_acc, const bf16* dout, const bf16* out,
                                                  MmaDims dm) {
  constexpr int kLanes = HS / 8;
  const int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;  // over B*T*NH*HS/8
  const int64_t n = dm.B * dm.T * dm.NH * kLanes;
  const bool valid = idx < n;
  float s = 0.0f;
  if (valid) {
    const uint4 x = reinterpret_cast<const uint4*>(dout)[idx], y = reinterpret_cast<const uint4*>(out)[idx];
    const uint32_t xs[4] = {x.x, x.y, x.z, x.w}, ys[4] = {y.x, y.y, y.z, y.w};
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float2 a = unpack_bf16(xs[e]), c = unpack_bf16(ys[e]);
      s += a.x * c.x + a.y * c.y;
    }
    float4* z = reinterpret_cast<float4*>(dq_acc) + 2 * idx;
    z[0] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    z[1] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
#pragma unroll
  for (int o2 = 1; o2 < kLanes; o2 <<= 1) s += __shfl_xor_sync(0xffffffffu, s, o2);
  if (valid && threadIdx.x % kLanes == 0) {
    const int64_t row = idx / kLanes;  // (b*T + t)*NH + h
    const int64_t h = row % dm.NH, bt = row / dm.NH, b = bt / dm.T, t = bt % dm.T;
    D[(b * dm.NH + h) * dm.T + t] = s;
  }
}

// dqkv[b, t, h*HS + c] += scale * dq_acc[b, t, h, c]; one thread per 8 elements.
template <int HS>
__global__ void attention_backward_dq_kernel(bf16* dqkv, const float* dq_acc, MmaDims dm, float scale) {
  const int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;  // over B*T*NH*HS/8
  const int64_t per_token = dm.NH * HS / 8;
  if (idx >= dm.B * dm.T * per_token) return;
  const int64_t bt = idx / per_token, c = (idx % per_token) * 8;
  uint4* dst = reinterpret_cast<uint4*>(dqkv + bt * dm.W + c);
  const float4* src = reinterpret_cast<const float4*>(dq_acc) + 2 * idx;
  const float4 a = src[0], b = src[1];
  uint4 d = *dst;
  const float2 d0 = unpack_bf16(d.x), d1 = unpack_bf16(d.y), d2 = unpack_bf16(d.z), d3 = unpack_bf16(d.w);
  d.x = pack_bf16(d0.x + scale * a.x, d0.y + scale * a.y);
  d.y = pack_bf16(d1.x + scale * a.z, d1.y + scale * a.w);
  d.z = pack_bf16(d2.x + scale * b.x, d2.y + scale * b.y);
  d.w = pack_bf16(d3.x + scale * b.z, d3.y + scale * b.w);
  *dst = d;
}

template <int HS, int kWarps, int kBq>
__global__ void __launch_bounds__(32 * kWarps, 1)
attention_backward_onepass_kernel(bf16* dqkv, float* dq_acc, const bf16* dout, const bf16* qkv, const float* lse,
                                  const float* D, MmaDims dm) {
  constexpr int kBk = 16 * kWarps, LD = HS + 8, LDS = kBq + 8, kNT = 32 * kWarps;
  // dq phase: each warp owns 16 queries x kCols columns of the step's dq tile (kBq x HS).
  constexpr int kWarpsPerMtile = kWarps / (kBq / 16), kCols = HS / kWarpsPerMtile;
  static_assert(kWarpsPerMtile >= 1 && kCols % 16 == 0, "dq tile split: 16 queries x kCols columns a warp");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Ks = reinterpret_cast<bf16*>(smem_raw);  // (kBk, LD)
  bf16* Vs = Ks + kBk * LD;                       // (kBk, LD)
  bf16* Qs = Vs + kBk * LD;                       // 2 stages of (kBq, LD)
  bf16* dOs = Qs + 2 * kBq * LD;                  // 2 stages of (kBq, LD)
  bf16* dSs = dOs + 2 * kBq * LD;                 // (kBk, LDS): dS^T, keys x queries
  float* lse_s = reinterpret_cast<float*>(dSs + kBk * LDS);  // 2 stages of (kBq), log2 domain
  float* D_s = lse_s + 2 * kBq;                               // 2 stages of (kBq)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, t2 = (lane % 4) * 2, g4 = lane / 4;
  const int64_t b = blockIdx.z, g = blockIdx.y, j0 = blockIdx.x * (int64_t)kBk;  // low j0 = most work: first
  const int64_t group = dm.NH / dm.NKV;
  const bf16* base = qkv + b * dm.T * dm.W;
  const bf16* dout_b = dout + b * dm.T * dm.NH * HS;
  const int kw = warp * 16;                                   // this warp's first key row in the block
  const int64_t ka = j0 + kw + g4, kb = ka + 8;               // this lane's key rows
  const int dq_m = (warp / kWarpsPerMtile) * 16, dq_c = (warp % kWarpsPerMtile) * kCols;  // dq phase tile
  const float scale = rsqrtf(static_cast<float>(HS)), sl2 = scale * kLog2e;
  load_tile_async<HS, kNT>(Ks, base, j0, kBk, dm.T, dm.W, (dm.NH + g) * HS);
  load_tile_async<HS, kNT>(Vs, base, j0, kBk, dm.T, dm.W, (dm.NH + dm.NKV + g) * HS);
  // Steps: (query head h, query tile i0) for h in the group, i0 from j0 to T.
  const int per_head = static_cast<int>((dm.T - j0 + kBq - 1) / kBq);
  const int steps = per_head * static_cast<int>(group);
  auto issue = [&](int step, int stage) {
    const int64_t h = g * group + step / per_head, i0 = j0 + (step % per_head) * (int64_t)kBq;
    load_tile_async<HS, kNT>(Qs + stage * kBq * LD, base, i0, kBq, dm.T, dm.W, h * HS);
    load_tile_async<HS, kNT>(dOs + stage * kBq * LD, dout_b, i0, kBq, dm.T, dm.NH * HS, h * HS);
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
    const int64_t h = g * group + step / per_head, i0 = j0 + (step % per_head) * (int64_t)kBq;
    const bf16* Qt = Qs + stage * kBq * LD;
    const bf16* dOt = dOs + stage * kBq * LD;
    const float* lse_t = lse_s + stage * kBq;
    const float* D_t = D_s + stage * kBq;
    bf16* dS_w = dSs + (kw + g4) * LDS + t2;  // this lane's dS^T pairs: rows ka (and +8 rows: kb)
    if (i0 + kBq - 1 >= j0 + kw) {  // else every query of the tile is before this warp's keys
      float st[kBq / 8][4] = {}, dpt[kBq / 8][4] = {};
#pragma unroll
      for (int kk = 0; kk < HS / 16; kk += 2) {
        uint32_t a0[4], a1[4];
        load_a_smem<HS>(a0, Ks, kw, kk, lane);
        load_a_smem<HS>(a1, Ks, kw, kk + 1, lane);
#pragma unroll
        for (int nt = 0; nt < kBq / 8; ++nt) {
          uint32_t bq[4];
          ldmatrix_x4(bq, Qt + (nt * 8 + lane % 8) * LD + kk * 16 + (lane / 8) * 8);
          mma_bf16_16816(st[nt], a0, bq[0], bq[1]);
          mma_bf16_16816(st[nt], a1, bq[2], bq[3]);
        }
        load_a_smem<HS>(a0, Vs, kw, kk, lane);
        load_a_smem<HS>(a1, Vs, kw, kk + 1, lane);
#pragma unroll
        for (int nt = 0; nt < kBq / 8; ++nt) {
          uint32_t bd[4];
          ldmatrix_x4(bd, dOt + (nt * 8 + lane % 8) * LD + kk * 16 + (lane / 8) * 8);
          mma_bf16_16816(dpt[nt], a0, bd[0], bd[1]);
          mma_bf16_16816(dpt[nt], a1, bd[2], bd[3]);
        }
      }
      // Only tiles that reach the diagonal or T need the mask.
      const bool masked = i0 < j0 + kw + 15 || i0 + kBq > dm.T;
#pragma unroll
      for (int nt = 0; nt < kBq / 8; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int ci = nt * 8 + t2 + (e & 1);
          float p = exp2_ftz(fmaf(st[nt][e], sl2, -lse_t[ci]));
          if (masked) {
            const int64_t i = i0 + ci, key = e < 2 ? ka : kb;
            p = (i >= key && i < dm.T) ? p : 0.0f;
          }
          st[nt][e] = p;
          dpt[nt][e] = p * (dpt[nt][e] - D_t[ci]);
        }
        *reinterpret_cast<uint32_t*>(dS_w + nt * 8) = pack_bf16(dpt[nt][0], dpt[nt][1]);
        *reinterpret_cast<uint32_t*>(dS_w + 8 * LDS + nt * 8) = pack_bf16(dpt[nt][2], dpt[nt][3]);
      }
      mma_p_v<HS, kBq / 16>(dv, st, dOt, lane);  // dv += P^T dO
      mma_p_v<HS, kBq / 16>(dk, dpt, Qt, lane);  // dk += dS^T Q
    } else {
#pragma unroll
      for (int nt = 0; nt < kBq / 8; ++nt) {
        *reinterpret_cast<uint32_t*>(dS_w + nt * 8) = 0u;
        *reinterpret_cast<uint32_t*>(dS_w + 8 * LDS + nt * 8) = 0u;
      }
    }
    __syncthreads();  // dS^T of every warp is in shared memory
    {
      // dq (queries dq_m.., columns dq_c..) = dS (kBq x kBk) K (kBk x HS) over the block's keys
      // up to the m-tile's last query (dS is zero after it).
      const int last_key = static_cast<int>(i0 - j0) + dq_m + 15;
      float dq[kCols / 8][4] = {};
#pragma unroll
      for (int kk = 0; kk < kBk / 16; ++kk) {
        if (kk * 16 > last_key) break;
        uint32_t a[4];
        load_a_trans(a, dSs, LDS, kk * 16, dq_m, lane);
#pragma unroll
        for (int np = 0; np < kCols / 16; ++np) {
          uint32_t bk[4];
          load_b_trans(bk, Ks, LD, kk * 16, dq_c + np * 16, lane);
          mma_bf16_16816(dq[2 * np], a, bk[0], bk[1]);
          mma_bf16_16816(dq[2 * np + 1], a, bk[2], bk[3]);
        }
      }
      const int64_t qa = i0 + dq_m + g4, qb = qa + 8;
      float* row_a = dq_acc + ((b * dm.T + qa) * dm.NH + h) * HS + dq_c + t2;
      float* row_b = row_a + 8 * dm.NH * HS;
#pragma unroll
      for (int nt = 0; nt < kCols / 8; ++nt) {
        if (qa < dm.T) atomic_add_pair(row_a + nt * 8, dq[nt][0], dq[nt][1]);
        if (qb < dm.T) atomic_add_pair(row_b + nt * 8, dq[nt][2], dq[nt][3]);
      }
    }
    __syncthreads();  // the next step's copies overwrite this stage and dS^T
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

template <int HS, int kWarps, int kBq>
void backward(bf16* dqkv, const bf16* dout, const bf16* qkv, const bf16* out, const float* lse, float* D,
              float* dq_acc, MmaDims dm, cudaStream_t s) {
  const int64_t chunks = dm.B * dm.T * dm.NH * HS / 8;
  const unsigned elem_blocks = static_cast<unsigned>((chunks + 255) / 256);
  attention_backward_prepare_kernel<HS><<<elem_blocks, 256, 0, s>>>(D, dq_acc, dout, out, dm);
  PRIMUS_CUDA_CHECK_LAUNCH();
  if (attention_wgmma_kernels()) {
    if (attention_backward_wgmma_main_launch(dqkv, dq_acc, dout, qkv, lse, D, dm.B, dm.T, dm.NH, dm.NKV, HS, s))
      return;  // it added dq itself (its own dq_acc layout)
  } else {
    constexpr int kBk = 16 * kWarps;
    constexpr size_t smem = onepass_smem_bytes<HS, kWarps, kBq>();
    const unsigned tiles = static_cast<unsigned>((dm.T + kBk - 1) / kBk);
    allow_smem(attention_backward_onepass_kernel<HS, kWarps, kBq>, smem);
    attention_backward_onepass_kernel<HS, kWarps, kBq><<<dim3(tiles, (unsigned)dm.NKV, (unsigned)dm.B), 32 * kWarps,
                                                         smem, s>>>(dqkv, dq_acc, dout, qkv, lse, D, dm);
    PRIMUS_CUDA_CHECK_LAUNCH();
  }
  attention_backward_dq_kernel<HS><<<elem_blocks, 256, 0, s>>>(dqkv, dq_acc, dm, 1.0f / std::sqrt((float)HS));
  PRIMUS_CUDA_CHECK_LAUNCH();
}


}  // namespace

size_t attention_backward_onepass_workspace_bytes(int64_t B, int64_t T, int64_t NH, int64_t HS) {
  return static_cast<size_t>(B * T * NH) * static_cast<size_t>(1 + HS) * sizeof(float);
}

void attention_backward_onepass_launch(void* dqkv, const void* dout, const void* qkv, const void* out,
                                       const float* lse, float* workspace, int64_t B, int64_t T, int64_t NH,
                                       int64_t NKV, int64_t HS, cudaStream_t s) {
  MmaDims dm{B, T, NH, NKV, (NH + 2 * NKV) * HS};
  float* dq_acc = workspace;                 // (B,T,NH,HS), 16-byte aligned (the scratch area is)
  float* D = workspace + B * T * NH * HS;    // (B,NH,T)
  auto* dq = static_cast<bf16*>(dqkv);
  auto* dy = static_cast<const bf16*>(dout);
  auto* x = static_cast<const bf16*>(qkv);
  auto* y = static_cast<const bf16*>(out);
  // 4 warps (64 key rows) a block, 64 queries a step. On an H200: 8 warps (128 key rows) ran
  // 8-15% slower; 32 queries a step at head size 128 (fewer registers) ran 7% slower.
  if (HS == 64) backward<64, 4, 64>(dq, dy, x, y, lse, D, dq_acc, dm, s);
  else backward<128, 4, 64>(dq, dy, x, y, lse, D, dq_acc, dm, s);
}

}  // namespace primus::cuda
