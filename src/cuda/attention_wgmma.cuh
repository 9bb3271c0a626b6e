// Shared pieces of the Hopper attention kernels (attention_wgmma_forward.cu,
// attention_wgmma_backward.cu): one warpgroup (128 threads) a block, 64-row tiles of one head in
// shared memory as HS/64 swizzled [64][64] bf16 sub-tiles (wgmma.cuh), loaded by cp.async.
#pragma once
#include "cuda/attention_mma.cuh"
#include "cuda/wgmma.cuh"

namespace primus::cuda {
namespace {

constexpr int kWgThreads = 128;        // one warpgroup
constexpr int kWgRows = 64;            // query or key rows of a tile
constexpr uint32_t kSubTile = 64 * 128;  // bytes of one swizzled [64][64] bf16 sub-tile

// Starts copying rows [row0, row0+64) x HS bf16 of global memory (row stride W, column offset col)
// into the HS/64 swizzled sub-tiles at s; rows past T become zero. Completes at the caller's
// cp_async_wait, then fence_proxy_async + __syncthreads before wgmma reads it.
template <int HS, int kThreads = kWgThreads>
__device__ __forceinline__ void load_tile_swizzled(unsigned char* s, const bf16* g, int64_t row0, int64_t T,
                                                   int64_t W, int64_t col) {
  constexpr int kChunks = HS / 8;  // 16-byte chunks per row
#pragma unroll 4
  for (int idx = threadIdx.x; idx < kWgRows * kChunks; idx += kThreads) {
    const int r = idx / kChunks, c = (idx % kChunks) * 8;
    const int64_t t = row0 + r;
    cp_async_16(s + (c / 64) * kSubTile + swizzle_offset(r, c % 64), g + (t < T ? t : 0) * W + col + c, t < T);
  }
}

// The dynamic shared memory rounded up to 1024 bytes (the swizzle atom); launches add 1024.
__device__ __forceinline__ unsigned char* smem_1024(unsigned char* raw) {
  const uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(raw));
  return raw + ((1024u - (a & 1023u)) & 1023u);
}

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

#ifdef PRIMUS_WGMMA
// K-major descriptor of k step kk (16 columns) of a [64][HS] tile at address a.
__device__ __forceinline__ uint64_t desc_k(uint32_t a, int kk) {
  return wgmma_desc(a + (kk / 4) * kSubTile + (kk % 4) * 32, 16, 1024);
}
// MN-major descriptor of k step kk (16 rows) of 64-column sub-tile hh of a [64][HS] tile at a.
__device__ __forceinline__ uint64_t desc_mn(uint32_t a, int hh, int kk) {
  return wgmma_desc(a + hh * kSubTile + kk * 2048, kSubTile, 1024);
}
#endif

// A fragments (k16 steps over the 64 columns) of a 64x64 fp32 accumulator, as bf16.
__device__ __forceinline__ void acc_to_a(uint32_t (&a)[4][4], const float (&d)[32]) {
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    a[k][0] = pack_bf16(d[8 * k], d[8 * k + 1]);
    a[k][1] = pack_bf16(d[8 * k + 2], d[8 * k + 3]);
    a[k][2] = pack_bf16(d[8 * k + 4], d[8 * k + 5]);
    a[k][3] = pack_bf16(d[8 * k + 6], d[8 * k + 7]);
  }
}

}  // namespace
}  // namespace primus::cuda
