// CPU kernels for the token/position embedding, layernorm and rmsnorm, templated on the scalar
// type (float in the backend, double in the finite-difference tests). Backward outputs d*
// accumulate (+=); a null d* pointer means "not needed". Reductions over rows into weight
// gradients run column-parallel, so results do not depend on the number of threads.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cpu/kernels_common.h"

namespace primus::cpu {

template <typename Real>
void encoder_forward_kernel(Real* out, const int32_t* tokens, const Real* wte, const Real* wpe,
                            int64_t B, int64_t T, int64_t C) {
  // out (B,T,C), tokens (B,T), wte (Vp,C), wpe (maxT,C) or null
#pragma omp parallel for collapse(2) schedule(static) if (B * T * C >= kParallelMinWork)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      Real* o = out + (b * T + t) * C;
      const Real* e = wte + static_cast<int64_t>(tokens[b * T + t]) * C;
      if (wpe) {
        const Real* p = wpe + t * C;
        for (int64_t c = 0; c < C; ++c) o[c] = e[c] + p[c];
      } else {
        for (int64_t c = 0; c < C; ++c) o[c] = e[c];
      }
    }
  }
}

template <typename Real>
void encoder_backward_kernel(Real* dwte, Real* dwpe, const Real* dout, const int32_t* tokens,
                             int64_t B, int64_t T, int64_t C) {
  // dwte (Vp,C), dwpe (maxT,C) or null, dout (B,T,C). Tokens repeat, so split by columns.
  const int64_t chunks = (C + kColumnChunk - 1) / kColumnChunk;
#pragma omp parallel for schedule(static) if (B * T * C >= kParallelMinWork)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t c0 = k * kColumnChunk, c1 = std::min(C, c0 + kColumnChunk);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = 0; t < T; ++t) {
        const Real* d = dout + (b * T + t) * C;
        if (dwte) {
          Real* w = dwte + static_cast<int64_t>(tokens[b * T + t]) * C;
          for (int64_t c = c0; c < c1; ++c) w[c] += d[c];
        }
        if (dwpe) {
          Real* p = dwpe + t * C;
          for (int64_t c = c0; c < c1; ++c) p[c] += d[c];
        }
      }
    }
  }
}

template <typename Real>
void layernorm_forward_kernel(Real* out, Real* mean, Real* rstd, const Real* inp, const Real* weight,
                              const Real* bias, int64_t N, int64_t C, Real eps) {
  // out, inp (N,C); mean, rstd (N); weight, bias (C), bias may be null
#pragma omp parallel for schedule(static) if (N * C >= kParallelMinWork)
  for (int64_t n = 0; n < N; ++n) {
    const Real* x = inp + n * C;
    Real sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < C; ++c) sum += x[c];
    const Real m = sum / static_cast<Real>(C);
    Real var = 0;
#pragma omp simd reduction(+ : var)
    for (int64_t c = 0; c < C; ++c) var += (x[c] - m) * (x[c] - m);
    const Real s = Real(1) / std::sqrt(var / static_cast<Real>(C) + eps);
    Real* o = out + n * C;
    if (bias)
      for (int64_t c = 0; c < C; ++c) o[c] = (x[c] - m) * s * weight[c] + bias[c];
    else
      for (int64_t c = 0; c < C; ++c) o[c] = (x[c] - m) * s * weight[c];
    mean[n] = m;
    rstd[n] = s;
  }
}

template <typename Real>
void layernorm_backward_kernel(Real* dinp, Real* dweight, Real* dbias, const Real* dout,
                               const Real* inp, const Real* weight, const Real* mean,
                               const Real* rstd, int64_t N, int64_t C) {
  // dinp, dout, inp (N,C); dweight, dbias, weight (C); mean, rstd (N)
  if (dinp) {
#pragma omp parallel for schedule(static) if (N * C >= kParallelMinWork)
    for (int64_t n = 0; n < N; ++n) {
      const Real* x = inp + n * C;
      const Real* d = dout + n * C;
      const Real m = mean[n], s = rstd[n];
      Real dnorm_mean = 0, dnorm_norm_mean = 0;
#pragma omp simd reduction(+ : dnorm_mean, dnorm_norm_mean)
      for (int64_t c = 0; c < C; ++c) {
        const Real dnorm = weight[c] * d[c];
        dnorm_mean += dnorm;
        dnorm_norm_mean += dnorm * (x[c] - m) * s;
      }
      dnorm_mean /= static_cast<Real>(C);
      dnorm_norm_mean /= static_cast<Real>(C);
      Real* di = dinp + n * C;
      for (int64_t c = 0; c < C; ++c) {
        const Real norm = (x[c] - m) * s;
        di[c] += (weight[c] * d[c] - dnorm_mean - norm * dnorm_norm_mean) * s;
      }
    }
  }
  if (!dweight && !dbias) return;
  const int64_t chunks = (C + kColumnChunk - 1) / kColumnChunk;
#pragma omp parallel for schedule(static) if (N * C >= kParallelMinWork)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t c0 = k * kColumnChunk, c1 = std::min(C, c0 + kColumnChunk);
    for (int64_t n = 0; n < N; ++n) {
      const Real* x = inp + n * C;
      const Real* d = dout + n * C;
      const Real m = mean[n], s = rstd[n];
      if (dweight)
        for (int64_t c = c0; c < c1; ++c) dweight[c] += d[c] * (x[c] - m) * s;
      if (dbias)
        for (int64_t c = c0; c < c1; ++c) dbias[c] += d[c];
    }
  }
}

template <typename Real>
void rmsnorm_forward_kernel(Real* out, Real* rstd, const Real* inp, const Real* weight, int64_t N,
                            int64_t C, Real eps) {
  // out, inp (N,C); rstd (N); weight (C)
#pragma omp parallel for schedule(static) if (N * C >= kParallelMinWork)
  for (int64_t n = 0; n < N; ++n) {
    const Real* x = inp + n * C;
    Real sq = 0;
#pragma omp simd reduction(+ : sq)
    for (int64_t c = 0; c < C; ++c) sq += x[c] * x[c];
    const Real s = Real(1) / std::sqrt(sq / static_cast<Real>(C) + eps);
    Real* o = out + n * C;
    for (int64_t c = 0; c < C; ++c) o[c] = x[c] * s * weight[c];
    rstd[n] = s;
  }
}

template <typename Real>
void rmsnorm_backward_kernel(Real* dinp, Real* dweight, const Real* dout, const Real* inp,
                             const Real* weight, const Real* rstd, int64_t N, int64_t C) {
  // dinp, dout, inp (N,C); dweight, weight (C); rstd (N)
  if (dinp) {
#pragma omp parallel for schedule(static) if (N * C >= kParallelMinWork)
    for (int64_t n = 0; n < N; ++n) {
      const Real* x = inp + n * C;
      const Real* d = dout + n * C;
      const Real s = rstd[n];
      Real dot = 0;  // sum_c dnorm[c] * norm[c]
#pragma omp simd reduction(+ : dot)
      for (int64_t c = 0; c < C; ++c) dot += weight[c] * d[c] * x[c] * s;
      const Real k = dot / static_cast<Real>(C);
      Real* di = dinp + n * C;
      for (int64_t c = 0; c < C; ++c) di[c] += (weight[c] * d[c] - x[c] * s * k) * s;
    }
  }
  if (!dweight) return;
  const int64_t chunks = (C + kColumnChunk - 1) / kColumnChunk;
#pragma omp parallel for schedule(static) if (N * C >= kParallelMinWork)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t c0 = k * kColumnChunk, c1 = std::min(C, c0 + kColumnChunk);
    for (int64_t n = 0; n < N; ++n) {
      const Real* x = inp + n * C;
      const Real* d = dout + n * C;
      const Real s = rstd[n];
      for (int64_t c = c0; c < c1; ++c) dweight[c] += d[c] * x[c] * s;
    }
  }
}

}  // namespace primus::cpu
