// GEMM benchmark: row-major C (M,N) = op(A) @ op(B), A stored (M,K) or (K,M) when transposed, B
// stored (K,N) or (N,K). On the CPU through OpenBLAS sgemm (fp32); on a device through the
// backend's linear-layer GEMMs (cuBLASLt on CUDA): "nt" is matmul_forward, "nn" the input gradient
// and "tn" the weight gradient of matmul_backward. Inputs rotate over enough buffers that their
// total is several times the last-level cache, so no timing is cache-warm. Every case is checked
// on sampled entries against a double-precision dot product before it is timed. fp8 cases (device
// only, layout nt only: see gemm_fp8.h) take E4M3 inputs with per-tensor scales and write bf16.
#pragma once
#include <cstdint>
#include <string>

#include "backend/backend.h"
#include "core/dtype.h"

namespace primus::bench {

struct GemmCase {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = true;   // default "nt": the linear layer's forward
  DType dtype = DType::kF32;            // element type of inputs and output; kBF16 (the output) when fp8
  bool fp8 = false;                     // E4M3 inputs with per-tensor scales, bf16 output
  std::string dtype_label() const { return fp8 ? "fp8" : std::string(dtype_name(dtype)); }
  std::string layout() const { return std::string(trans_a ? "t" : "n") + (trans_b ? "t" : "n"); }
  double flops() const { return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k); }
};

struct GemmOptions {
  int warmup = 2;                 // untimed calls first
  int iters = 10;                 // timed calls
  int64_t rotate_bytes = 0;       // total input bytes to rotate over; 0 = 4x the cache (at least 256 MiB on devices)
  bool check = true;              // compare sampled entries with a host reference before timing
};

struct GemmResult {
  double mean_s = 0;      // mean seconds per call
  double min_s = 0;       // fastest call (CPU; equals mean on devices, timed as one batch)
  double tflops = 0;      // from mean_s
  int buffers = 0;        // input sets rotated over
  double max_err = 0;     // worst sampled error relative to sum |a*b|; 0 when not checked
};

// Threads of the host GEMM (OpenBLAS); 0 leaves the library's default (all cores).
void gemm_host_threads_set(int threads);

// Accepted layouts per target: the CPU takes all four; a device backend "nt", "nn" and "tn" ("nt"
// only for fp8). Throws primus::usage_error when the backend cannot run the case (layout, dtype,
// fp8 on a device without fp8 tensor cores or on the CPU).
void gemm_validate(const GemmCase& c, const Backend* backend);

// backend == nullptr: the host path (OpenBLAS, fp32). Throws primus::Error when the sampled check
// fails (a wrong GEMM is not timed).
GemmResult gemm_run(const GemmCase& c, const GemmOptions& options, Backend* backend);

// Largest sampled error of C (M,N) against op(A) @ op(B) computed in double, relative to the sum of
// |a*b| of each entry. a, b, c fp32 host arrays in the case's layouts.
double gemm_sample_error(const GemmCase& c, const float* a, const float* b, const float* out, int samples = 32);

}  // namespace primus::bench
