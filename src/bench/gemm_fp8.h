// fp8 (E4M3) GEMMs for the GEMM benchmark, on a device through Backend::matmul_fp8_forward (the
// linear layer's forward layout, "nt"; bf16 output). Inputs are drawn in fp32, divided by a
// power-of-two per-tensor scale and rounded to E4M3 on the host, so every dequantized value is
// exact in bf16. Before timing, two checks: sampled entries against a double-precision dot product
// of the dequantized inputs, and the whole output against the backend's bf16 GEMM of the same
// dequantized inputs (the two differ only by accumulation order and bf16 rounding).
#pragma once
#include <cstdint>

#include "backend/backend.h"
#include "bench/gemm.h"

namespace primus::bench {

// E4M3 (OCP FP8: 4 exponent bits, bias 7, 3 mantissa bits, no infinities, largest finite 448).
// Rounds to nearest even and saturates at +-448; NaN becomes 0x7f.
uint8_t e4m3_from_float(float x);
float e4m3_to_float(uint8_t bits);
// The smallest power of two s with amax / s <= 448 (amax > 0).
float e4m3_scale_for(float amax);

// Largest |fp8 - bf16| over the output relative to the largest |bf16| that passes the check.
constexpr double kFp8GemmTolerance = 2e-2;

// c.fp8 must be set (layout nt); throws primus::Error when a check fails (a wrong GEMM is not timed).
GemmResult gemm_run_fp8(const GemmCase& c, const GemmOptions& options, Backend& backend);

}  // namespace primus::bench
