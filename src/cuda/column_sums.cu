// Column sums over the rows of (N, C) tensors: dbias += sum of dout (the matmul's bias gradient)
// and, for the norms' generic path, dweight += sum of dout * xhat. Two passes: partial sums over
// row splits (coalesced, 16-byte loads where C and the pointers allow), then a fixed-order sum of
// the partials added into dweight/dbias (deterministic). The row-resident norm backward (norm.cu)
// writes its own partials and uses the same finalize.
#include "cuda/column_sums.h"
#include "cuda/kernels.h"
#include "cuda/vec16.cuh"

namespace primus::cuda {
namespace {

// partial_w[s][c] = sum over the rows of split s of dout * xhat (when inp), partial_b[s][c] = of dout.
// Threads (32 column lanes, 8 row groups); a lane takes kW adjacent columns (16-byte loads when kW > 1,
// C a multiple of kW). The 8 groups' sums are added in a fixed order.
template <typename T, int kW>
__global__ void __launch_bounds__(256)
    column_partials_kernel(float* partial_w, float* partial_b, const T* dout, const T* inp, const float* mean,
                           const float* rstd, int64_t N, int64_t C, int64_t rows) {
  __shared__ float sums[2][8][32 * kW];
  const int lane = threadIdx.x % 32, group = threadIdx.x / 32;
  const int64_t c0 = (blockIdx.x * 32 + (int64_t)lane) * kW;
  const int64_t r0 = blockIdx.y * rows, r1 = r0 + rows < N ? r0 + rows : N;
  float w[kW], b[kW];
#pragma unroll
  for (int j = 0; j < kW; ++j) w[j] = b[j] = 0.0f;
  if (c0 < C) {
#pragma unroll 4
    for (int64_t r = r0 + group; r < r1; r += 8) {
      float d[kW], x[kW];
      if constexpr (kW > 1) {
        const Vec16<T> dv = load16(dout + r * C + c0);
#pragma unroll
        for (int j = 0; j < kW; ++j) d[j] = to_float(dv.v[j]);
        if (inp) {
          const Vec16<T> xv = load16(inp + r * C + c0);
#pragma unroll
          for (int j = 0; j < kW; ++j) x[j] = to_float(xv.v[j]);
        }
      } else {
        d[0] = to_float(dout[r * C + c0]);
        if (inp) x[0] = to_float(inp[r * C + c0]);
      }
      const float mu = inp && mean ? mean[r] : 0.0f, rs = inp ? rstd[r] : 0.0f;
#pragma unroll
      for (int j = 0; j < kW; ++j) {
        b[j] += d[j];
        if (inp) w[j] += d[j] * (x[j] - mu) * rs;
      }
    }
  }
#pragma unroll
  for (int j = 0; j < kW; ++j) sums[0][group][lane * kW + j] = w[j], sums[1][group][lane * kW + j] = b[j];
  __syncthreads();
  // Thread i of the block finishes columns i, i + 256, ... of the block's 32 * kW.
  for (int i = threadIdx.x; i < 32 * kW; i += blockDim.x) {
    const int64_t c = blockIdx.x * 32 * (int64_t)kW + i;
    if (c >= C) continue;
    float sw = 0.0f, sb = 0.0f;
    for (int g = 0; g < 8; ++g) sw += sums[0][g][i], sb += sums[1][g][i];
    if (partial_w) partial_w[blockIdx.y * C + c] = sw;
    if (partial_b) partial_b[blockIdx.y * C + c] = sb;
  }
}

// dst[c] += sum over p < parts of partial[p][c] in a fixed order; blockIdx.y 0: dweight, 1: dbias.
// Threads (32 columns, 8 groups of parts).
template <typename G>
__global__ void __launch_bounds__(256)
    column_finalize_kernel(G* dst_w, G* dst_b, const float* partial_w, const float* partial_b, int64_t parts,
                           int64_t C) {
  __shared__ float sums[8][32];
  G* dst = blockIdx.y == 0 ? dst_w : dst_b;
  const float* partial = blockIdx.y == 0 ? partial_w : partial_b;
  if (!dst) return;
  const int lane = threadIdx.x % 32, group = threadIdx.x / 32;
  const int64_t c = blockIdx.x * 32 + (int64_t)lane;
  float acc = 0.0f;
  if (c < C) {
#pragma unroll 8
    for (int64_t p = group; p < parts; p += 8) acc += partial[p * C + c];
  }
  sums[group][lane] = acc;
  __syncthreads();
  if (group != 0 || c >= C) return;
  float s = 0.0f;
  for (int g = 0; g < 8; ++g) s += sums[g][lane];
  dst[c] = from_float<G>(to_float(dst[c]) + s);
}

template <typename... Ps>
bool aligned16(const Ps*... ps) {
  return ((reinterpret_cast<uintptr_t>(ps) % 16 == 0) && ...);
}

// T: dtype of dout and inp; G: dtype of dweight and dbias (fp32 gradients of a bf16 model).
template <typename T, typename G>
void column_sums_typed(G* dweight, G* dbias, const T* dout, const T* inp, const float* mean, const float* rstd,
                       int64_t N, int64_t C, float* workspace, cudaStream_t s) {
  constexpr int kN = Vec16<T>::kN;
  const T* x = dweight ? inp : nullptr;
  const bool vec = C % kN == 0 && aligned16(dout, x);
  auto* kernel = vec ? column_partials_kernel<T, kN> : column_partials_kernel<T, 1>;
  const int64_t tiles = vec ? (C / kN + 31) / 32 : (C + 31) / 32;
  // Row splits: enough blocks to fill the GPU once (no tail wave), at least 64 rows a split.
  int per_sm = 0;
  PRIMUS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, 256, 0));
  const int64_t resident = static_cast<int64_t>(per_sm < 1 ? 1 : per_sm) * device_sm_count();
  int64_t splits = (resident + tiles - 1) / tiles;
  splits = splits < column_sum_splits(N) ? splits : column_sum_splits(N);
  const int64_t rows = (N + splits - 1) / splits;
  float* pw = dweight ? workspace : nullptr;
  float* pb = dbias ? workspace + splits * C : nullptr;
  kernel<<<dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(splits)), 256, 0, s>>>(pw, pb, dout, x, mean, rstd,
                                                                                         N, C, rows);
  PRIMUS_CUDA_CHECK_LAUNCH();
  column_finalize_kernel<G><<<dim3(static_cast<unsigned>((C + 31) / 32), 2), 256, 0, s>>>(dweight, dbias, pw, pb,
                                                                                          splits, C);
  PRIMUS_CUDA_CHECK_LAUNCH();
}

}  // namespace

int device_sm_count() {
  int dev = 0, n = 0;
  PRIMUS_CUDA_CHECK(cudaGetDevice(&dev));
  PRIMUS_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
  return n;
}

int64_t column_sum_splits(int64_t N) {
  int64_t s = (N + 63) / 64;
  return s < 1 ? 1 : (s > 256 ? 256 : s);
}

void column_finalize_launch(void* dweight, void* dbias, const float* partial_w, const float* partial_b, DType grad_dt,
                            int64_t parts, int64_t C, cudaStream_t s) {
  if (!dweight && !dbias) return;
  const dim3 grid(static_cast<unsigned>((C + 31) / 32), 2);
  PRIMUS_DISPATCH_FLOAT(grad_dt, G, column_finalize_kernel<G><<<grid, 256, 0, s>>>(
      static_cast<G*>(dweight), static_cast<G*>(dbias), partial_w, partial_b, parts, C));
  PRIMUS_CUDA_CHECK_LAUNCH();
}

void column_sums_launch(void* dweight, void* dbias, const void* dout, const void* inp, const float* mean,
                        const float* rstd, DType dt, DType grad_dt, int64_t N, int64_t C, float* workspace,
                        cudaStream_t s) {
  if (N == 0 || (!dweight && !dbias)) return;
  PRIMUS_DISPATCH_FLOAT(dt, E, PRIMUS_DISPATCH_FLOAT(grad_dt, G, column_sums_typed<E, G>(
      static_cast<G*>(dweight), static_cast<G*>(dbias), static_cast<const E*>(dout), static_cast<const E*>(inp), mean,
      rstd, N, C, workspace, s)));
}

void bias_backward_launch(void* dbias, const void* dout, DType dt, DType grad_dt, int64_t N, int64_t C,
                          float* workspace, cudaStream_t s) {
  if (N == 0) return;
  column_sums_launch(nullptr, dbias, dout, nullptr, nullptr, nullptr, dt, grad_dt, N, C, workspace, s);
}

}  // namespace primus::cuda
