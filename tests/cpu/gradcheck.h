// Test helpers for the CPU kernels: seeded random vectors, NaN poison, central finite
// differences in double precision, and comparisons that report the worst element.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"

namespace primus::cpu::testing {

using Vec = std::vector<double>;

struct Rand {
  Rng rng;
  explicit Rand(uint64_t seed) : rng(seed) {}
  Vec normal(int64_t n, double stddev = 1.0) {
    Vec v(static_cast<size_t>(n));
    for (double& x : v) x = rng.normal(0.0f, 1.0f) * stddev;
    return v;
  }
  Vec uniform(int64_t n, double lo, double hi) {
    Vec v(static_cast<size_t>(n));
    for (double& x : v) x = lo + (hi - lo) * rng.uniform();
    return v;
  }
  std::vector<int32_t> ints(int64_t n, int32_t lo, int32_t hi) {  // in [lo, hi)
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (int32_t& x : v) x = lo + static_cast<int32_t>(rng.below(static_cast<uint64_t>(hi - lo)));
    return v;
  }
};

// Filled with NaN, so that an output a kernel forgets to write fails every check downstream.
inline Vec poisoned(int64_t n) { return Vec(static_cast<size_t>(n), std::numeric_limits<double>::quiet_NaN()); }

inline double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

inline Vec minus(const Vec& a, const Vec& b) {
  Vec d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return d;
}

inline bool all_finite(const Vec& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

// Each element within rtol of the reference, relative to max(|want|, floor).
template <typename A>
::testing::AssertionResult all_close(const std::vector<A>& got, const Vec& want, double rtol,
                                     double floor = 1e-3) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " vs " << want.size();
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - want[i]) / std::max(std::abs(want[i]), floor);
    if (!(err <= worst)) {  // also catches NaN
      worst = std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
      at = i;
    }
  }
  if (worst <= rtol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "element " << at << ": got " << static_cast<double>(got[at])
                                       << ", want " << want[at] << " (relative error " << worst << ")";
}

// The analytic gradient of f with respect to x against central differences; x is restored.
inline ::testing::AssertionResult grad_matches(const Vec& analytic, Vec& x, const std::function<double()>& f,
                                               double rtol = 1e-6, double h = 1e-5) {
  Vec numeric(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double xi = x[i];
    x[i] = xi + h;
    const double fp = f();
    x[i] = xi - h;
    const double fm = f();
    x[i] = xi;
    numeric[i] = (fp - fm) / (2 * h);
  }
  return all_close(analytic, numeric, rtol);
}

// Float copies of double data and tensor views over host vectors, for the fp32 backend.
inline std::vector<float> to_float(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }
inline Tensor view(std::vector<float>& v, Shape s) { return Tensor{v.data(), DType::kF32, s}; }
inline Tensor view(std::vector<int32_t>& v, Shape s) { return Tensor{v.data(), DType::kI32, s}; }
inline std::vector<float> poisoned_float(int64_t n) {
  return std::vector<float>(static_cast<size_t>(n), std::numeric_limits<float>::quiet_NaN());
}

}  // namespace primus::cpu::testing
