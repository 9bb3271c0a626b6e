// Shared pieces of the tensor-core flash attention (attention_forward_mma.cu,
// attention_backward_mma.cu): tile loads (cp.async, zero rows past T), A fragments from global or
// shared memory, the two warp-level products (A * tile^T and P * tile) and the block sizes.
// bf16 packed qkv (B,T,(NH+2*NKV)*HS); shared tiles have row stride HS+8 (conflict-free ldmatrix).
#pragma once
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

// A fragments (16 rows m x 16 k) for k-step kk of A = S^T where S is a shared tile stored (k, m)
// with row stride ld (rows = k): m-tile m0, k rows [k0, k0+16). ldmatrix.trans of four 8x8 blocks.
__device__ __forceinline__ void load_a_trans(uint32_t* a, const bf16* s, int ld, int k0, int m0, int lane) {
  const int mi = lane / 8, i = lane % 8;  // matrix mi: a0 (k0, m0), a1 (k0, m0+8), a2 (k0+8, m0), a3 (k0+8, m0+8)
  ldmatrix_x4_trans(a, s + (k0 + (mi >> 1) * 8 + i) * ld + m0 + (mi & 1) * 8);
}

// *p += (x, y) on two consecutive fp32 in global memory, atomically (one vector atomic on sm_90).
__device__ __forceinline__ void atomic_add_pair(float* p, float x, float y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(p), make_float2(x, y));
#else
  atomicAdd(p, x);
  atomicAdd(p + 1, y);
#endif
}

// dst (bf16 pair at p) += (x, y).
__device__ __forceinline__ void add_pair(bf16* p, float x, float y) {
  const float2 cur = unpack_bf16(load_u32(p));
  *reinterpret_cast<uint32_t*>(p) = pack_bf16(cur.x + x, cur.y + y);
}

template <typename K>
void allow_smem(K kernel, size_t bytes) {
  PRIMUS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

}  // namespace
}  // namespace primus::cuda
