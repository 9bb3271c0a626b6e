// CPU rotary embedding (rotate-half convention: element i pairs with i + HS/2 in each head) and
// causal grouped-query self-attention over packed qkv (B,T,(NH+2*NKV)*HS) = [q heads | k heads |
// v heads] per token, query head h reading kv head h / (NH/NKV). Attention saves the log-sum-exp
// of each softmax row and recomputes probabilities in backward. Backward outputs accumulate (+=).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu/kernels_common.h"
#include "cpu/math_poly.h"

namespace primus::cpu {

template <typename Real>
void rope_forward_kernel(Real* out, const Real* inp, const Real* cos, const Real* sin, int64_t B,
                         int64_t T, int64_t NH, int64_t NKV, int64_t HS) {
  // out, inp (B,T,(NH+2*NKV)*HS), may alias; cos, sin (T,HS/2)
  const int64_t C3 = (NH + 2 * NKV) * HS, half = HS / 2;
#pragma omp parallel for collapse(2) schedule(static) if (B * T * C3 >= kParallelMinWork)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      const Real* x = inp + (b * T + t) * C3;
      Real* o = out + (b * T + t) * C3;
      const Real* cs = cos + t * half;
      const Real* sn = sin + t * half;
      for (int64_t h = 0; h < NH + NKV; ++h) {
        const Real* xh = x + h * HS;
        Real* oh = o + h * HS;
        for (int64_t i = 0; i < half; ++i) {
          const Real x1 = xh[i], x2 = xh[i + half];
          oh[i] = x1 * cs[i] - x2 * sn[i];
          oh[i + half] = x2 * cs[i] + x1 * sn[i];
        }
      }
      if (o != x)
        for (int64_t c = (NH + NKV) * HS; c < C3; ++c) o[c] = x[c];
    }
  }
}

template <typename Real>
void rope_backward_kernel(Real* dinp, const Real* dout, const Real* cos, const Real* sin, int64_t B,
                          int64_t T, int64_t NH, int64_t NKV, int64_t HS) {
  // dinp, dout (B,T,(NH+2*NKV)*HS); cos, sin (T,HS/2)
  const int64_t C3 = (NH + 2 * NKV) * HS, half = HS / 2;
#pragma omp parallel for collapse(2) schedule(static) if (B * T * C3 >= kParallelMinWork)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      const Real* d = dout + (b * T + t) * C3;
      Real* di = dinp + (b * T + t) * C3;
      const Real* cs = cos + t * half;
      const Real* sn = sin + t * half;
      for (int64_t h = 0; h < NH + NKV; ++h) {
        const Real* dh = d + h * HS;
        Real* dih = di + h * HS;
        for (int64_t i = 0; i < half; ++i) {
          const Real d1 = dh[i], d2 = dh[i + half];
          dih[i] += d1 * cs[i] + d2 * sn[i];
          dih[i + half] += d2 * cs[i] - d1 * sn[i];
        }
      }
      for (int64_t c = (NH + NKV) * HS; c < C3; ++c) di[c] += d[c];
    }
  }
}

template <typename Real>
Real dot_kernel(const Real* a, const Real* b, int64_t n) {
  Real s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// xt (HS,T) = the head of width HS at x (rows of stride C3), transposed, so that a row of scores
// is HS contiguous axpy passes instead of t dot products.
template <typename Real>
void head_transpose_kernel(Real* xt, const Real* x, int64_t T, int64_t C3, int64_t HS) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < HS; ++i) xt[i * T + t] = x[t * C3 + i];
}

// s[t2] = scale * sum_i a[i] * xt[i][t2] for t2 in [0, t].
template <typename Real>
void scores_row_kernel(Real* s, const Real* a, const Real* xt, int64_t t, int64_t T, int64_t HS, Real scale) {
  for (int64_t t2 = 0; t2 <= t; ++t2) s[t2] = 0;
  for (int64_t i = 0; i < HS; ++i) {
    const Real ai = scale * a[i];
    const Real* row = xt + i * T;
#pragma omp simd
    for (int64_t t2 = 0; t2 <= t; ++t2) s[t2] += ai * row[t2];
  }
}

template <typename Real>
void attention_forward_kernel(Real* out, Real* lse, const Real* qkv, int64_t B, int64_t T,
                              int64_t NH, int64_t NKV, int64_t HS) {
  // out (B,T,NH*HS), lse (B,NH,T), qkv (B,T,(NH+2*NKV)*HS)
  const int64_t C3 = (NH + 2 * NKV) * HS, CO = NH * HS, group = NH / NKV;
  const Real scale = Real(1) / std::sqrt(static_cast<Real>(HS));
#pragma omp parallel if (B * NH * T * T * HS >= kParallelMinWork)
  {
    std::vector<Real> kt(static_cast<size_t>(HS * T));  // (HS,T) keys of one head, transposed
    std::vector<Real> s(static_cast<size_t>(T));         // (T) scores, then probabilities
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t h = 0; h < NH; ++h) {
        const Real* base = qkv + b * T * C3;
        const int64_t v_off = (NH + NKV + h / group) * HS;
        head_transpose_kernel(kt.data(), base + (NH + h / group) * HS, T, C3, HS);
        for (int64_t t = 0; t < T; ++t) {
          scores_row_kernel(s.data(), base + t * C3 + h * HS, kt.data(), t, T, HS, scale);
          Real mx = -std::numeric_limits<Real>::infinity();
#pragma omp simd reduction(max : mx)
          for (int64_t t2 = 0; t2 <= t; ++t2) mx = s[t2] > mx ? s[t2] : mx;
          Real sum = 0;
#pragma omp simd reduction(+ : sum)
          for (int64_t t2 = 0; t2 <= t; ++t2) {
            s[t2] = exp_of(s[t2] - mx);
            sum += s[t2];
          }
          const Real inv = Real(1) / sum;
          Real* o = out + (b * T + t) * CO + h * HS;
          for (int64_t i = 0; i < HS; ++i) o[i] = 0;
          for (int64_t t2 = 0; t2 <= t; ++t2) {
            const Real p = s[t2] * inv;
            const Real* v = base + t2 * C3 + v_off;
#pragma omp simd
            for (int64_t i = 0; i < HS; ++i) o[i] += p * v[i];
          }
          lse[(b * NH + h) * T + t] = mx + std::log(sum);
        }
      }
    }
  }
}

template <typename Real>
void attention_backward_kernel(Real* dqkv, const Real* dout, const Real* qkv, const Real* out,
                               const Real* lse, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                               int64_t HS) {
  // dqkv, qkv (B,T,(NH+2*NKV)*HS); dout, out (B,T,NH*HS); lse (B,NH,T).
  // One task per (batch, kv head): it alone writes that kv head's dk, dv and its query heads' dq.
  const int64_t C3 = (NH + 2 * NKV) * HS, CO = NH * HS, group = NH / NKV;
  const Real scale = Real(1) / std::sqrt(static_cast<Real>(HS));
#pragma omp parallel if (B * NH * T * T * HS >= kParallelMinWork)
  {
    std::vector<Real> kt(static_cast<size_t>(HS * T)), vt(static_cast<size_t>(HS * T));  // (HS,T) each
    std::vector<Real> p(static_cast<size_t>(T)), ds(static_cast<size_t>(T));             // (T) each
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t g = 0; g < NKV; ++g) {
        const Real* base = qkv + b * T * C3;
        Real* dbase = dqkv + b * T * C3;
        const int64_t k_off = (NH + g) * HS, v_off = (NH + NKV + g) * HS;
        head_transpose_kernel(kt.data(), base + k_off, T, C3, HS);
        head_transpose_kernel(vt.data(), base + v_off, T, C3, HS);
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
          for (int64_t t = 0; t < T; ++t) {
            const Real* q = base + t * C3 + h * HS;
            Real* dq = dbase + t * C3 + h * HS;
            const Real* d = dout + (b * T + t) * CO + h * HS;
            const Real l = lse[(b * NH + h) * T + t];
            const Real D = dot_kernel(d, out + (b * T + t) * CO + h * HS, HS);  // sum_t2 p * dp
            scores_row_kernel(p.data(), q, kt.data(), t, T, HS, scale);
            scores_row_kernel(ds.data(), d, vt.data(), t, T, HS, Real(1));  // dp = d . v
#pragma omp simd
            for (int64_t t2 = 0; t2 <= t; ++t2) {
              p[t2] = exp_of(p[t2] - l);
              ds[t2] = scale * p[t2] * (ds[t2] - D);
            }
            for (int64_t t2 = 0; t2 <= t; ++t2) {
              const Real* k = base + t2 * C3 + k_off;
              Real* dk = dbase + t2 * C3 + k_off;
              Real* dv = dbase + t2 * C3 + v_off;
              const Real pt = p[t2], dst = ds[t2];
#pragma omp simd
              for (int64_t i = 0; i < HS; ++i) {  // dq, dk, dv never overlap
                dq[i] += dst * k[i];
                dk[i] += dst * q[i];
                dv[i] += pt * d[i];
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace primus::cpu
