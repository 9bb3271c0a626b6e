// CPU linear layer: out = inp @ weight^T + bias, with every GEMM (forward, dinp, dweight) through
// OpenBLAS (sgemm for float, dgemm for double). Backward outputs accumulate (beta = 1); a null
// d* pointer means "not needed". The bias gradient is a column-parallel reduction.
#pragma once
#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "cpu/kernels_common.h"

namespace primus::cpu {

// Row-major C (M,N) = alpha * op(A) @ op(B) + beta * C, op(A) (M,K), op(B) (K,N).
template <typename Real>
void gemm_row_major(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, Real alpha,
                    const Real* A, int64_t lda, const Real* B, int64_t ldb, Real beta, Real* C,
                    int64_t ldc) {
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<Real, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, static_cast<blasint>(M), static_cast<blasint>(N),
                static_cast<blasint>(K), alpha, A, static_cast<blasint>(lda), B,
                static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
  } else {
    static_assert(std::is_same_v<Real, double>, "gemm_row_major: float or double");
    cblas_dgemm(CblasRowMajor, ta, tb, static_cast<blasint>(M), static_cast<blasint>(N),
                static_cast<blasint>(K), alpha, A, static_cast<blasint>(lda), B,
                static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
  }
}

template <typename Real>
void matmul_forward_kernel(Real* out, const Real* inp, const Real* weight, const Real* bias,
                           int64_t N, int64_t C, int64_t OC) {
  // out (N,OC), inp (N,C), weight (OC,C), bias (OC) or null
  if (bias) {
#pragma omp parallel for schedule(static) if (N * OC >= kParallelMinWork)
    for (int64_t n = 0; n < N; ++n) std::copy(bias, bias + OC, out + n * OC);
  }
  gemm_row_major<Real>(false, true, N, OC, C, Real(1), inp, C, weight, C, bias ? Real(1) : Real(0),
                       out, OC);
}

template <typename Real>
void matmul_backward_kernel(Real* dinp, Real* dweight, Real* dbias, const Real* dout,
                            const Real* inp, const Real* weight, int64_t N, int64_t C, int64_t OC) {
  // dinp (N,C), dweight (OC,C), dbias (OC), dout (N,OC), inp (N,C), weight (OC,C)
  if (dinp) gemm_row_major<Real>(false, false, N, C, OC, Real(1), dout, OC, weight, C, Real(1), dinp, C);
  if (dweight) gemm_row_major<Real>(true, false, OC, C, N, Real(1), dout, OC, inp, C, Real(1), dweight, C);
  if (!dbias) return;
  const int64_t chunks = (OC + kColumnChunk - 1) / kColumnChunk;
#pragma omp parallel for schedule(static) if (N * OC >= kParallelMinWork)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t o0 = k * kColumnChunk, o1 = std::min(OC, o0 + kColumnChunk);
    for (int64_t n = 0; n < N; ++n) {
      const Real* d = dout + n * OC;
      for (int64_t o = o0; o < o1; ++o) dbias[o] += d[o];
    }
  }
}

}  // namespace primus::cpu
