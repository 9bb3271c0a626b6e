// CPU AdamW (decoupled weight decay: p -= lr * (mhat / (sqrt(vhat) + eps) + wd * p), gradients
// multiplied by grad_scale first) and the sum of squares behind the global gradient norm. The
// sum uses fixed-size chunks added in order, so it does not depend on the number of threads.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/kernels_common.h"

namespace primus::cpu {

template <typename Real>
struct AdamWStep {
  Real lr, beta1, beta2, eps, weight_decay, grad_scale;
  Real bias_correction1;  // 1 - beta1^step
  Real bias_correction2;  // 1 - beta2^step
};

// Elements per task of the AdamW loop.
constexpr int64_t kAdamWChunk = 1 << 14;

template <typename Real>
void adamw_chunk(Real* __restrict params, Real* __restrict master, Real* __restrict m, Real* __restrict v,
                 const Real* __restrict grads, int64_t n, const AdamWStep<Real>& a) {
  // Locals, so that the loop body reads no memory but the five streams and vectorizes.
  const Real b1 = a.beta1, b2 = a.beta2, inv_bc1 = Real(1) / a.bias_correction1,
             inv_bc2 = Real(1) / a.bias_correction2, lr = a.lr, eps = a.eps, wd = a.weight_decay,
             gs = a.grad_scale;
  Real* __restrict p = master ? master : params;
  for (int64_t i = 0; i < n; ++i) {
    const Real g = grads[i] * gs;
    const Real mi = b1 * m[i] + (Real(1) - b1) * g;
    const Real vi = b2 * v[i] + (Real(1) - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * ((mi * inv_bc1) / (std::sqrt(vi * inv_bc2) + eps) + wd * p[i]);
  }
  if (master) std::copy(master, master + n, params);
}

template <typename Real>
void adamw_update_kernel(Real* params, Real* master, Real* m, Real* v, const Real* grads, int64_t n,
                         const AdamWStep<Real>& a) {
  // params, master (or null), m, v, grads (n)
  const int64_t chunks = (n + kAdamWChunk - 1) / kAdamWChunk;
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t i0 = k * kAdamWChunk, len = std::min(n - i0, kAdamWChunk);
    adamw_chunk(params + i0, master ? master + i0 : nullptr, m + i0, v + i0, grads + i0, len, a);
  }
}

// Elements per chunk of the ordered sum of squares.
constexpr int64_t kSumChunk = 1 << 16;

// Sum of to_double(x[i])^2, accumulated in double.
template <typename Elem, typename ToDouble>
double sum_squares_kernel(const Elem* x, int64_t n, ToDouble to_double) {
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> partial(static_cast<size_t>(chunks));  // (chunks)
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t i0 = k * kSumChunk, i1 = std::min(n, i0 + kSumChunk);
    // 16 independent partial sums: one accumulator would wait on the add latency every element.
    double acc[16] = {};
    int64_t i = i0;
    for (; i + 16 <= i1; i += 16) {
      for (int j = 0; j < 16; ++j) {
        const double g = to_double(x[i + j]);
        acc[j] += g * g;
      }
    }
    for (; i < i1; ++i) {
      const double g = to_double(x[i]);
      acc[0] += g * g;
    }
    double s = 0;
    for (double a : acc) s += a;
    partial[k] = s;
  }
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace primus::cpu
