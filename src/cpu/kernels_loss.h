// CPU softmax cross-entropy over logits (N,Vp) whose first V columns are real. Rows whose target
// is ignore_index have loss 0 and zero gradient. Backward WRITES dlogits (it may alias logits) as
// grad_scale * (softmax - onehot), recomputing the softmax so that nothing else is saved.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "cpu/kernels_common.h"
#include "cpu/math_poly.h"

namespace primus::cpu {

template <typename Real>
Real row_max_kernel(const Real* x, int64_t n) {
  Real mx = -std::numeric_limits<Real>::infinity();
#pragma omp simd reduction(max : mx)
  for (int64_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  return mx;
}

template <typename Real>
void cross_entropy_forward_kernel(Real* losses, const Real* logits, const int32_t* targets,
                                  int64_t N, int64_t Vp, int64_t V, int64_t ignore_index) {
  // losses (N), logits (N,Vp), targets (N)
#pragma omp parallel for schedule(static) if (N * V >= kParallelMinWork)
  for (int64_t n = 0; n < N; ++n) {
    if (targets[n] == ignore_index) {
      losses[n] = 0;
      continue;
    }
    const Real* x = logits + n * Vp;
    const Real mx = row_max_kernel(x, V);
    Real sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t v = 0; v < V; ++v) sum += exp_of(x[v] - mx);
    losses[n] = mx + std::log(sum) - x[targets[n]];
  }
}

template <typename Real>
void cross_entropy_backward_kernel(Real* dlogits, const Real* logits, const int32_t* targets,
                                   int64_t N, int64_t Vp, int64_t V, int64_t ignore_index,
                                   Real grad_scale) {
  // dlogits, logits (N,Vp), may alias; targets (N)
#pragma omp parallel for schedule(static) if (N * V >= kParallelMinWork)
  for (int64_t n = 0; n < N; ++n) {
    Real* d = dlogits + n * Vp;
    const Real* x = logits + n * Vp;
    if (targets[n] == ignore_index) {
      std::fill(d, d + Vp, Real(0));
      continue;
    }
    const Real mx = row_max_kernel(x, V);
    Real sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t v = 0; v < V; ++v) {
      const Real e = exp_of(x[v] - mx);  // read x[v] before d[v] overwrites it
      d[v] = e;
      sum += e;
    }
    const Real f = grad_scale / sum;
    for (int64_t v = 0; v < V; ++v) d[v] *= f;
    d[targets[n]] -= grad_scale;
    std::fill(d + V, d + Vp, Real(0));
  }
}

}  // namespace primus::cpu
