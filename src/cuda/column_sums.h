// Column sums shared by the norms' backward (norm.cu) and the matmul's bias gradient
// (column_sums.cu): launchers with raw device pointers, as in kernels.h.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace primus::cuda {

// dweight (C, grad_dt) += sum over rows of dout * xhat (xhat from inp, mean, rstd; mean == null:
// RMSNorm), dbias += sum over rows of dout (N,C); either may be null. Deterministic.
void column_sums_launch(void* dweight, void* dbias, const void* dout, const void* inp, const float* mean,
                        const float* rstd, DType dt, DType grad_dt, int64_t N, int64_t C, float* workspace,
                        cudaStream_t s);
// Multiprocessors of the current device.
int device_sm_count();
// The most row splits of column_sums_launch's partial sums (its workspace: 2 * splits * C floats).
int64_t column_sum_splits(int64_t N);
// dweight/dbias (C, grad_dt) += the sum over p < parts of partial_w/partial_b (parts, C), in order;
// either may be null.
void column_finalize_launch(void* dweight, void* dbias, const float* partial_w, const float* partial_b, DType grad_dt,
                            int64_t parts, int64_t C, cudaStream_t s);

}  // namespace primus::cuda
