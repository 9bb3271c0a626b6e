// CPU kernels of the vocabulary-parallel embedding and cross-entropy (tensor parallelism; see
// backend.h): this rank holds rows [vb, vb + Vs) of the padded vocabulary. Templated on the scalar
// type (float in the backend, double in the finite-difference tests). Embedding backward outputs
// accumulate; the cross-entropy outputs are written.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "cpu/kernels_common.h"
#include "cpu/math_poly.h"

namespace primus::cpu {

template <typename Real>
void encoder_shard_forward_kernel(Real* out, const int32_t* tokens, const Real* wte, const Real* wpe,
                                  int64_t B, int64_t T, int64_t C, int64_t vb, int64_t Vs) {
  // out (B,T,C), tokens (B,T), wte (Vs,C), wpe (maxT,C) or null
#pragma omp parallel for collapse(2) schedule(static) if (B * T * C >= kParallelMinWork)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      Real* o = out + (b * T + t) * C;
      const int64_t row = static_cast<int64_t>(tokens[b * T + t]) - vb;
      const Real* e = row >= 0 && row < Vs ? wte + row * C : nullptr;
      const Real* p = wpe ? wpe + t * C : nullptr;
      for (int64_t c = 0; c < C; ++c) o[c] = (e ? e[c] : Real(0)) + (p ? p[c] : Real(0));
    }
  }
}

template <typename Real>
void encoder_shard_backward_kernel(Real* dwte, Real* dwpe, const Real* dout, const int32_t* tokens,
                                   int64_t B, int64_t T, int64_t C, int64_t vb, int64_t Vs) {
  // dwte (Vs,C), dwpe (maxT,C) or null, dout (B,T,C). Tokens repeat, so split by columns.
  const int64_t chunks = (C + kColumnChunk - 1) / kColumnChunk;
#pragma omp parallel for schedule(static) if (B * T * C >= kParallelMinWork)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t c0 = k * kColumnChunk, c1 = std::min(C, c0 + kColumnChunk);
    for (int64_t i = 0; i < B * T; ++i) {
      const Real* d = dout + i * C;
      const int64_t row = static_cast<int64_t>(tokens[i]) - vb;
      if (dwte && row >= 0 && row < Vs)
        for (int64_t c = c0; c < c1; ++c) dwte[row * C + c] += d[c];
      if (dwpe)
        for (int64_t c = c0; c < c1; ++c) dwpe[(i % T) * C + c] += d[c];
    }
  }
}

// Real columns of this shard: [0, real) with real = clamp(V - vb, 0, Vs).
inline int64_t shard_real_columns(int64_t vb, int64_t Vs, int64_t V) { return std::clamp<int64_t>(V - vb, 0, Vs); }

template <typename Real>
void cross_entropy_shard_max_kernel(Real* row_max, const Real* logits, int64_t N, int64_t Vs, int64_t vb,
                                    int64_t V) {
  // row_max (N), logits (N,Vs)
  const int64_t real = shard_real_columns(vb, Vs, V);
#pragma omp parallel for schedule(static) if (N * Vs >= kParallelMinWork)
  for (int64_t n = 0; n < N; ++n) {
    Real mx = -std::numeric_limits<Real>::infinity();
    for (int64_t v = 0; v < real; ++v) mx = std::max(mx, logits[n * Vs + v]);
    row_max[n] = mx;
  }
}

template <typename Real>
void cross_entropy_shard_sums_kernel(Real* sums, const Real* logits, const Real* row_max, const int32_t* targets,
                                     int64_t N, int64_t Vs, int64_t vb, int64_t V, int64_t ignore_index) {
  // sums (2,N), logits (N,Vs), row_max (N), targets (N)
  const int64_t real = shard_real_columns(vb, Vs, V);
#pragma omp parallel for schedule(static) if (N * Vs >= kParallelMinWork)
  for (int64_t n = 0; n < N; ++n) {
    const Real* x = logits + n * Vs;
    const Real mx = row_max[n];
    Real sum = 0;
    for (int64_t v = 0; v < real; ++v) sum += exp_of(x[v] - mx);
    const int64_t t = static_cast<int64_t>(targets[n]) - vb;
    sums[n] = sum;
    sums[N + n] = targets[n] != ignore_index && t >= 0 && t < real ? x[t] : Real(0);
  }
}

template <typename Real>
void cross_entropy_shard_backward_kernel(Real* dlogits, const Real* logits, const Real* row_max,
                                         const Real* sum_exp, const int32_t* targets, int64_t N, int64_t Vs,
                                         int64_t vb, int64_t V, int64_t ignore_index, Real grad_scale) {
  // dlogits, logits (N,Vs), may alias; row_max, sum_exp, targets (N)
  const int64_t real = shard_real_columns(vb, Vs, V);
#pragma omp parallel for schedule(static) if (N * Vs >= kParallelMinWork)
  for (int64_t n = 0; n < N; ++n) {
    Real* d = dlogits + n * Vs;
    const Real* x = logits + n * Vs;
    if (targets[n] == ignore_index) {
      std::fill(d, d + Vs, Real(0));
      continue;
    }
    const Real mx = row_max[n], f = grad_scale / sum_exp[n];
    for (int64_t v = 0; v < real; ++v) d[v] = exp_of(x[v] - mx) * f;
    std::fill(d + real, d + Vs, Real(0));
    const int64_t t = static_cast<int64_t>(targets[n]) - vb;
    if (t >= 0 && t < real) d[t] -= grad_scale;
  }
}

}  // namespace primus::cpu
