// Hopper warpgroup matrix multiply (wgmma, sm_90a) helpers for bf16 inputs with fp32 accumulators,
// shape m64n64k16 only. Operands in shared memory are 64-column (128-byte) row tiles in the
// 128-byte swizzle: element (r, c) of a [rows][64] bf16 sub-tile sits at byte
// r*128 + ((c/8) ^ (r%8))*16 + (c%8)*2, sub-tiles 1024-byte aligned (swizzle_offset). Such a tile is
//   K-major when its rows are M (or N) and its columns K: descriptor SBO = 1024 (8 rows), a
//   16-column k step adds 32 bytes to the start address;
//   MN-major when its rows are K and its columns M (or N) (imm-trans = 1): SBO = 1024 (8 k rows),
//   LBO = bytes between 64-column sub-tiles, a 16-row k step adds 2048 bytes.
// Accumulator d[32] of a warpgroup: warp w, lane (g = lane/4, t = lane%4) holds for n-tile i
// d[4i], d[4i+1] at (16w+g, 8i+2t..+1) and d[4i+2], d[4i+3] at (16w+g+8, 8i+2t..+1): the mma.sync
// C fragment per warp. A register fragments (k16 step) are the mma.sync m16n8k16 A fragments of
// the warp's 16 rows. Everything here is only compiled for sm_90a (PRIMUS_WGMMA).
#pragma once
#include <cstdint>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define PRIMUS_WGMMA 1
#endif

namespace primus::cuda {

// Byte offset of element (r, c) in a swizzled [rows][64] bf16 sub-tile.
__device__ __forceinline__ uint32_t swizzle_offset(int r, int c) {
  return static_cast<uint32_t>(r * 128 + (((c >> 3) ^ (r & 7)) << 4) + (c & 7) * 2);
}

#ifdef PRIMUS_WGMMA

// Shared-memory matrix descriptor, 128-byte swizzle, byte offsets lbo / sbo.
__device__ __forceinline__ uint64_t wgmma_desc(uint32_t smem_addr, uint32_t lbo, uint32_t sbo) {
  uint64_t d = (smem_addr & 0x3FFFFu) >> 4;
  d |= static_cast<uint64_t>((lbo >> 4) & 0x3FFFu) << 16;
  d |= static_cast<uint64_t>((sbo >> 4) & 0x3FFFu) << 32;
  d |= 1ull << 62;
  return d;
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keeps the compiler from moving reads or writes of accumulator registers across a wait.
__device__ __forceinline__ void wgmma_fence_operands(float (&d)[32]) {
#pragma unroll
  for (int i = 0; i < 32; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
// Ordinary shared-memory stores (and cp.async) made visible to the tensor cores' reads.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// d (64x64) (+)= A (64x16, descriptor) * B (16x64, descriptor); kTA / kTB: MN-major A / B.
template <int kTA, int kTB>
__device__ __forceinline__ void wgmma_ss(float (&d)[32], uint64_t da, uint64_t db, bool accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "%32, %33, p, 1, 1, %35, %36;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(da), "l"(db), "r"(static_cast<int>(accumulate)), "n"(kTA), "n"(kTB));
}

// d (64x64) (+)= A (64x16, registers a[4]) * B (16x64, descriptor); kTB: MN-major B.
template <int kTB>
__device__ __forceinline__ void wgmma_rs(float (&d)[32], const uint32_t (&a)[4], uint64_t db, bool accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "{%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(static_cast<int>(accumulate)), "n"(kTB));
}

// Bulk asynchronous reduction (sm_90): global fp32 [dst, dst + bytes) += shared [src, ...), by one
// thread; bytes a multiple of 16, both 16-byte aligned. The shared source needs
// fence_proxy_async + a barrier after the ordinary stores that fill it.
__device__ __forceinline__ void bulk_reduce_add_f32(float* dst, uint32_t src, uint32_t bytes) {
  asm volatile("cp.reduce.async.bulk.global.shared::cta.bulk_group.add.f32 [%0], [%1], %2;\n" ::"l"(dst), "r"(src),
               "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
// The issuing thread's bulk operations have finished reading shared memory / have completed.
__device__ __forceinline__ void bulk_wait_read() { asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); }
__device__ __forceinline__ void bulk_wait() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }

#endif  // PRIMUS_WGMMA

}  // namespace primus::cuda
