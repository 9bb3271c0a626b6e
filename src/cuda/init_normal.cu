// Initial weights drawn on the device: each thread walks one run of the generator's sequence from
// the state the host computed for it (Rng::run_starts), with the host's own step and transforms
// (core/rng_draw.h). Replaces drawing billions of normals on the host and copying them over.
#include "core/rng_draw.h"
#include "cuda/device_utils.cuh"
#include "cuda/kernels.h"

namespace primus::cuda {
namespace {

__global__ void normal_fill_kernel(float* __restrict__ out, const uint64_t* __restrict__ starts, int64_t n,
                                   int64_t per_run, float stddev) {
  const int64_t run = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t begin = run * per_run;
  if (begin >= n) return;
  const int64_t end = begin + per_run < n ? begin + per_run : n;
  uint64_t state = starts[run];
  for (int64_t i = begin; i < end; ++i) {
    const float u1 = rng_uniform(rng_next_u32(state));
    const float u2 = rng_uniform(rng_next_u32(state));
    out[i] = rng_normal(u1, u2, 0.0f, stddev);
  }
}

}  // namespace

void normal_fill_launch(float* out, const uint64_t* starts, int64_t n, int64_t per_run, float stddev, cudaStream_t s) {
  if (n == 0) return;
  constexpr int kBlock = 256;
  const int64_t runs = (n + per_run - 1) / per_run;
  normal_fill_kernel<<<static_cast<unsigned>((runs + kBlock - 1) / kBlock), kBlock, 0, s>>>(out, starts, n, per_run,
                                                                                             stddev);
  PRIMUS_CUDA_CHECK_LAUNCH();
}

}  // namespace primus::cuda
