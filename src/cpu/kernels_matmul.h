// CPU linear layer: out = inp @ weight^T + bias, with every GEMM (forward, dinp, dweight) through
// OpenBLAS (sgemm for float, dgemm for double). Backward outputs accumulate (beta = 1); a null
// d* pointer means "not needed". The bias gradient is a column-parallel reduction.
// Threads: OpenBLAS runs single-threaded (the backend sets it) and each OpenMP thread computes one
// block of output columns, so one thread pool serves every op and no two pools fight over cores.
#pragma once
#include <cblas.h>
#include <omp.h>

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

// GEMMs with fewer multiply-adds than this run as one call on the calling thread.
constexpr int64_t kGemmParallelMinWork = int64_t{1} << 21;

// Calls f(lo, hi) for one block of [0, n) per OpenMP thread; block starts are multiples of 16.
template <typename F>
void for_each_column_block(int64_t n, int64_t work, F&& f) {
  if (work < kGemmParallelMinWork || omp_get_max_threads() == 1) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const int64_t parts = omp_get_num_threads(), part = omp_get_thread_num();
    const int64_t block = ((n + parts - 1) / parts + 15) / 16 * 16;
    const int64_t lo = std::min(n, part * block), hi = std::min(n, lo + block);
    if (hi > lo) f(lo, hi);
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
  for_each_column_block(OC, N * C * OC, [&](int64_t o0, int64_t o1) {
    gemm_row_major<Real>(false, true, N, o1 - o0, C, Real(1), inp, C, weight + o0 * C, C,
                         bias ? Real(1) : Real(0), out + o0, OC);
  });
}

template <typename Real>
void matmul_backward_kernel(Real* dinp, Real* dweight, Real* dbias, const Real* dout,
                            const Real* inp, const Real* weight, int64_t N, int64_t C, int64_t OC) {
  // dinp (N,C), dweight (OC,C), dbias (OC), dout (N,OC), inp (N,C), weight (OC,C)
  if (dinp) {  // dinp (N,C) += dout (N,OC) @ weight (OC,C), by blocks of columns of dinp
    for_each_column_block(C, N * C * OC, [&](int64_t c0, int64_t c1) {
      gemm_row_major<Real>(false, false, N, c1 - c0, OC, Real(1), dout, OC, weight + c0, C, Real(1), dinp + c0, C);
    });
  }
  if (dweight) {  // dweight (OC,C) += dout^T (OC,N) @ inp (N,C), by blocks of rows of dweight
    for_each_column_block(OC, N * C * OC, [&](int64_t o0, int64_t o1) {
      gemm_row_major<Real>(true, false, o1 - o0, C, N, Real(1), dout + o0, OC, inp, C, Real(1), dweight + o0 * C, C);
    });
  }
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
