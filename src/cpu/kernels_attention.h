// CPU causal self-attention with grouped-query heads over packed qkv (B,T,(NH+2*NKV)*HS) =
// [q heads | k heads | v heads] per token; query head h reads kv head h / (NH/NKV). Blocks of
// query rows run as GEMMs (scores, probabilities times values, and the four products of the
// backward) against the keys up to the block's end, so the causal mask wastes at most one block.
// Forward saves the log-sum-exp of each softmax row; backward recomputes the probabilities from it.
// Backward outputs accumulate (+=).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu/kernels_common.h"
#include "cpu/kernels_matmul.h"
#include "cpu/math_poly.h"

namespace primus::cpu {

// Query rows per block.
constexpr int64_t kAttentionBlock = 64;

template <typename Real>
Real dot_kernel(const Real* a, const Real* b, int64_t n) {
  Real s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

template <typename Real>
void attention_forward_kernel(Real* out, Real* lse, const Real* qkv, int64_t B, int64_t T, int64_t NH,
                              int64_t NKV, int64_t HS, int64_t block = kAttentionBlock) {
  // out (B,T,NH*HS), lse (B,NH,T), qkv (B,T,(NH+2*NKV)*HS)
  const int64_t C3 = (NH + 2 * NKV) * HS, CO = NH * HS, group = NH / NKV;
  const Real scale = Real(1) / std::sqrt(static_cast<Real>(HS));
#pragma omp parallel if (B * NH * T * T * HS >= kParallelMinWork)
  {
    std::vector<Real> s(static_cast<size_t>(block * T));  // (block,T) scores, then probabilities
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t h = 0; h < NH; ++h) {
        const Real* q = qkv + b * T * C3 + h * HS;
        const Real* k = qkv + b * T * C3 + (NH + h / group) * HS;
        const Real* v = qkv + b * T * C3 + (NH + NKV + h / group) * HS;
        for (int64_t r0 = 0; r0 < T; r0 += block) {
          const int64_t rows = std::min(block, T - r0), cols = r0 + rows;  // keys [0, cols)
          gemm_row_major<Real>(false, true, rows, cols, HS, scale, q + r0 * C3, C3, k, C3, Real(0), s.data(), cols);
          for (int64_t r = 0; r < rows; ++r) {
            Real* row = s.data() + r * cols;
            const int64_t n = r0 + r + 1;  // causal: keys [0, t]
            Real mx = -std::numeric_limits<Real>::infinity();
#pragma omp simd reduction(max : mx)
            for (int64_t j = 0; j < n; ++j) mx = row[j] > mx ? row[j] : mx;
            Real sum = 0;
#pragma omp simd reduction(+ : sum)
            for (int64_t j = 0; j < n; ++j) {
              row[j] = exp_of(row[j] - mx);
              sum += row[j];
            }
            const Real inv = Real(1) / sum;
            for (int64_t j = 0; j < n; ++j) row[j] *= inv;
            for (int64_t j = n; j < cols; ++j) row[j] = 0;
            lse[(b * NH + h) * T + r0 + r] = mx + std::log(sum);
          }
          gemm_row_major<Real>(false, false, rows, HS, cols, Real(1), s.data(), cols, v, C3, Real(0),
                               out + (b * T + r0) * CO + h * HS, CO);
        }
      }
    }
  }
}

template <typename Real>
void attention_backward_kernel(Real* dqkv, const Real* dout, const Real* qkv, const Real* out, const Real* lse,
                               int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS,
                               int64_t block = kAttentionBlock) {
  // dqkv, qkv (B,T,(NH+2*NKV)*HS); dout, out (B,T,NH*HS); lse (B,NH,T).
  // One task per (batch, kv head): it alone writes that kv head's dk, dv and its query heads' dq.
  const int64_t C3 = (NH + 2 * NKV) * HS, CO = NH * HS, group = NH / NKV;
  const Real scale = Real(1) / std::sqrt(static_cast<Real>(HS));
#pragma omp parallel if (B * NH * T * T * HS >= kParallelMinWork)
  {
    std::vector<Real> p(static_cast<size_t>(block * T)), ds(static_cast<size_t>(block * T));  // (block,T) each
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t g = 0; g < NKV; ++g) {
        const Real* k = qkv + b * T * C3 + (NH + g) * HS;
        const Real* v = qkv + b * T * C3 + (NH + NKV + g) * HS;
        Real* dk = dqkv + b * T * C3 + (NH + g) * HS;
        Real* dv = dqkv + b * T * C3 + (NH + NKV + g) * HS;
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
          for (int64_t r0 = 0; r0 < T; r0 += block) {
            const int64_t rows = std::min(block, T - r0), cols = r0 + rows;
            const Real* q = qkv + (b * T + r0) * C3 + h * HS;
            Real* dq = dqkv + (b * T + r0) * C3 + h * HS;
            const Real* d = dout + (b * T + r0) * CO + h * HS;
            gemm_row_major<Real>(false, true, rows, cols, HS, scale, q, C3, k, C3, Real(0), p.data(), cols);
            gemm_row_major<Real>(false, true, rows, cols, HS, Real(1), d, CO, v, C3, Real(0), ds.data(), cols);
            for (int64_t r = 0; r < rows; ++r) {
              Real* pr = p.data() + r * cols;
              Real* dsr = ds.data() + r * cols;
              const int64_t n = r0 + r + 1;
              const Real l = lse[(b * NH + h) * T + r0 + r];
              const Real D = dot_kernel(d + r * CO, out + (b * T + r0 + r) * CO + h * HS, HS);  // sum p * dp
#pragma omp simd
              for (int64_t j = 0; j < n; ++j) {
                pr[j] = exp_of(pr[j] - l);
                dsr[j] = scale * pr[j] * (dsr[j] - D);
              }
              for (int64_t j = n; j < cols; ++j) pr[j] = dsr[j] = 0;
            }
            // dq (rows,HS) += ds @ k; dk (cols,HS) += ds^T @ q; dv (cols,HS) += p^T @ dout
            gemm_row_major<Real>(false, false, rows, HS, cols, Real(1), ds.data(), cols, k, C3, Real(1), dq, C3);
            gemm_row_major<Real>(true, false, cols, HS, rows, Real(1), ds.data(), cols, q, C3, Real(1), dk, C3);
            gemm_row_major<Real>(true, false, cols, HS, rows, Real(1), p.data(), cols, d, CO, Real(1), dv, C3);
          }
        }
      }
    }
  }
}

}  // namespace primus::cpu
