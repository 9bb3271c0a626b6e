// CPU AdamW (decoupled weight decay: p -= lr * (mhat / (sqrt(vhat) + eps) + wd * p), gradients
// multiplied by grad_scale first) and the sum of squares behind the global gradient norm. The
// sum uses fixed-size chunks added in order, so it does not depend on the number of threads.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace primus::cpu {

template <typename Real>
struct AdamWStep {
  Real lr, beta1, beta2, eps, weight_decay, grad_scale;
  Real bias_correction1;  // 1 - beta1^step
  Real bias_correction2;  // 1 - beta2^step
};

template <typename Real>
void adamw_update_kernel(Real* params, Real* master, Real* m, Real* v, const Real* grads, int64_t n,
                         const AdamWStep<Real>& a) {
  // params, master (or null), m, v, grads (n)
  const Real b1 = a.beta1, b2 = a.beta2, inv_bc1 = Real(1) / a.bias_correction1,
             inv_bc2 = Real(1) / a.bias_correction2;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const Real g = grads[i] * a.grad_scale;
    const Real mi = b1 * m[i] + (Real(1) - b1) * g;
    const Real vi = b2 * v[i] + (Real(1) - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    Real p = master ? master[i] : params[i];
    p -= a.lr * ((mi * inv_bc1) / (std::sqrt(vi * inv_bc2) + a.eps) + a.weight_decay * p);
    if (master) master[i] = p;
    params[i] = p;
  }
}

// Elements per chunk of the ordered sum of squares.
constexpr int64_t kSumChunk = 1 << 16;

// Sum of to_double(x[i])^2, accumulated in double.
template <typename Elem, typename ToDouble>
double sum_squares_kernel(const Elem* x, int64_t n, ToDouble to_double) {
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> partial(static_cast<size_t>(chunks));  // (chunks)
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t i0 = k * kSumChunk, i1 = std::min(n, i0 + kSumChunk);
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = i0; i < i1; ++i) {
      const double g = to_double(x[i]);
      s += g * g;
    }
    partial[k] = s;
  }
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace primus::cpu
