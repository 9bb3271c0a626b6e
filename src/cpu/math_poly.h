// Elementwise exp and sigmoid that the compiler can vectorize. For float: Cephes-style
// range reduction x = n*ln2 + r and a degree-6 polynomial for e^r (about 1 ulp), written with
// plain arithmetic so loops calling it become SIMD code (libm's expf and tanhf stay scalar calls).
// For double (the finite-difference tests) exp is std::exp. NaN propagates.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace primus::cpu {

inline float exp_poly(float x) {
  // Clamp to where 2^n stays a normal float; exp(-87.3) ~ 1e-38 stands in for 0.
  x = x < -87.3f ? -87.3f : x;  // both comparisons are false for NaN, which passes through
  x = x > 88.0f ? 88.0f : x;
  // n = round(x / ln2) by the 1.5 * 2^23 trick (round to nearest, no rounding-mode dependence).
  const float shifter = 12582912.0f;
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;  // ln2 split in two for accuracy
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);  // p * 2^n
}

template <typename Real>
inline Real exp_of(Real x) {
  if constexpr (std::is_same_v<Real, float>) {
    return exp_poly(x);
  } else {
    return std::exp(x);
  }
}

template <typename Real>
inline Real sigmoid_of(Real x) {
  return Real(1) / (Real(1) + exp_of(-x));
}

}  // namespace primus::cpu
