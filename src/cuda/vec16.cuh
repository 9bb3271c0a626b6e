// 16-byte vectors of fp32 or bf16 elements for the row and column kernels of the norms: one
// 128-bit load or store per vector (the pointer must be 16-byte aligned).
#pragma once
#include "cuda/device_utils.cuh"

namespace primus::cuda {

template <typename T>
struct alignas(16) Vec16 {
  static constexpr int kN = 16 / static_cast<int>(sizeof(T));
  T v[kN];
};
template <typename T>
__device__ __forceinline__ Vec16<T> load16(const T* p) {
  Vec16<T> r;
  *reinterpret_cast<uint4*>(&r) = *reinterpret_cast<const uint4*>(p);
  return r;
}
template <typename T>
__device__ __forceinline__ void store16(T* p, const Vec16<T>& x) {
  *reinterpret_cast<uint4*>(p) = *reinterpret_cast<const uint4*>(&x);
}
template <typename T>
__device__ __forceinline__ Vec16<T> zero16() {
  Vec16<T> r;
  *reinterpret_cast<uint4*>(&r) = make_uint4(0u, 0u, 0u, 0u);
  return r;
}

}  // namespace primus::cuda
