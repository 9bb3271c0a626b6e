// GEMM benchmark reports: a sweep over M, N, K, layouts and dtypes, and the GEMMs of a model's
// training step with per-layer and per-step totals. Each returns a Report (rows, key columns,
// metric "tflops") and the chart --plot draws.
#pragma once
#include <string>
#include <vector>

#include "bench/gemm.h"
#include "bench/report.h"
#include "bench/svg_chart.h"
#include "config/experiment.h"

namespace primus::bench {

// One --dtype of the GEMM benchmark: fp32, bf16, or fp8 (E4M3 inputs, bf16 output; dtype kBF16).
struct GemmPrecision {
  DType dtype = DType::kF32;
  bool fp8 = false;
};

struct GemmSweep {
  std::vector<int64_t> m, n, k;          // every combination is run
  std::vector<std::string> layouts;      // "nt", "nn", "tn", "tt"
  std::vector<GemmPrecision> dtypes;
  GemmOptions run;
};

// backend == nullptr: host OpenBLAS. device_name: product name for peak lookup ("cpu" or a GPU name).
Report gemm_sweep_report(const GemmSweep& sweep, Backend* backend, const std::string& device_name, int cpu_threads);
Chart gemm_sweep_chart(const Report& report);

struct GemmModel {
  config::ModelConfig model;
  std::string model_name;                // shown in the report
  int64_t micro_batch = 1, seq_len = 1024, tensor = 1;
  GemmPrecision dtype;                   // fp8: every GEMM runs as nt (fp8 training transposes operands first)
  GemmOptions run;
};

Report gemm_model_report(const GemmModel& spec, Backend* backend, const std::string& device_name, int cpu_threads);
Chart gemm_model_chart(const Report& report);

// "nt" -> (false, true); throws primus::usage_error for anything else.
std::pair<bool, bool> layout_parse(const std::string& layout);
// "fp32" | "bf16" (also "f32", "float32", "bfloat16"); fp8 is refused with a hint (attention).
DType gemm_dtype_parse(const std::string& name);
// As gemm_dtype_parse, and "fp8" (also "e4m3", "fp8_e4m3") for the GEMM benchmark.
GemmPrecision gemm_precision_parse(const std::string& name);

}  // namespace primus::bench
