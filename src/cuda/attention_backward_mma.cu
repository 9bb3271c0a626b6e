// Flash attention backward on tensor cores for bf16 packed qkv (see attention_forward_mma.cu), the
// earlier two-pass form kept for comparisons (PRIMUS_ATTENTION_LEGACY=1); the default is the
// one-pass backward of attention_backward_onepass.cu (16-20% less time on an H200).
// One kernel owns dq (per 64 query rows; it also computes D = rowsum(dout * out) for the next),
// one owns dk and dv (per 64 key rows, over the group's query heads); both recompute P from the
// saved log-sum-exp, so the T x T matrix never exists and no atomics run (deterministic).
// dqkv accumulates.
#include "cuda/attention_mma.cuh"

namespace primus::cuda {
namespace {

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
