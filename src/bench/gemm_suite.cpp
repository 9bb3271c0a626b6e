// GEMM sweep and model-shape reports (see gemm_suite.h).
#include "bench/gemm_suite.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "bench/model_gemms.h"
#include "core/error.h"
#include "core/log.h"
#include "train/metrics.h"

namespace primus::bench {
namespace {

nlohmann::json peak_pct(double tflops, double peak) { return peak > 0 ? nlohmann::json(100.0 * tflops / peak) : nlohmann::json(); }

}  // namespace

std::pair<bool, bool> layout_parse(const std::string& layout) {
  if (layout == "nt") return {false, true};
  if (layout == "nn") return {false, false};
  if (layout == "tn") return {true, false};
  if (layout == "tt") return {true, true};
  throw usage_error(fmt::format("unknown GEMM layout '{}'", layout),
                    "nt (C = A @ B^T, the linear layer's forward), nn (input gradient), tn (weight gradient) or tt");
}

DType gemm_dtype_parse(const std::string& name) {
  if (name == "fp32" || name == "f32" || name == "float32") return DType::kF32;
  if (name == "bf16" || name == "bfloat16") return DType::kBF16;
  if (name.rfind("fp8", 0) == 0 || name.rfind("e4m3", 0) == 0)
    throw usage_error("fp8 is not available for this benchmark", "fp8 runs in `primus benchmark gemm --device cuda`; use --dtype bf16");
  throw usage_error(fmt::format("unknown --dtype '{}'", name), "use fp32 or bf16");
}

GemmPrecision gemm_precision_parse(const std::string& name) {
  if (name == "fp8" || name == "e4m3" || name == "fp8_e4m3") return {DType::kBF16, true};
  if (name.rfind("fp8", 0) == 0 || name.rfind("e4m3", 0) == 0)
    throw usage_error(fmt::format("unknown --dtype '{}'", name), "the fp8 GEMM is E4M3: use --dtype fp8");
  return {gemm_dtype_parse(name), false};
}

namespace {

double peak_of(const std::string& device_name, const GemmPrecision& p, int cpu_threads) {
  return p.fp8 ? train::peak_tflops_fp8(device_name) : train::peak_tflops(device_name, p.dtype, cpu_threads);
}

}  // namespace

Report gemm_sweep_report(const GemmSweep& s, Backend* backend, const std::string& device_name, int cpu_threads) {
  Report r;
  r.title = "gemm";
  r.columns = {{"m", "M"},          {"n", "N"},          {"k", "K"},
               {"layout", "layout"}, {"dtype", "dtype"}, {"time_us", "time (us)", 1},
               {"tflops", "TFLOP/s", 2}, {"peak_pct", "% peak", 1}, {"buffers", "buffers"},
               {"max_err", "max rel err", -1}};
  r.key_columns = {"m", "n", "k", "layout", "dtype"};
  r.metric = "tflops";
  for (const GemmPrecision& dt : s.dtypes) {
    const double peak = peak_of(device_name, dt, cpu_threads);
    for (const auto& lay : s.layouts) {
      auto [ta, tb] = layout_parse(lay);
      for (int64_t m : s.m)
        for (int64_t n : s.n)
          for (int64_t k : s.k) {
            GemmCase c{m, n, k, ta, tb, dt.dtype, dt.fp8};
            log_info("gemm {}x{}x{} {} {}", m, n, k, lay, c.dtype_label());
            GemmResult g = gemm_run(c, s.run, backend);
            r.rows.push_back({{"m", m}, {"n", n}, {"k", k}, {"layout", lay}, {"dtype", c.dtype_label()},
                              {"time_us", g.mean_s * 1e6}, {"tflops", g.tflops}, {"peak_pct", peak_pct(g.tflops, peak)},
                              {"buffers", g.buffers}, {"max_err", g.max_err}});
          }
    }
  }
  return r;
}

Chart gemm_sweep_chart(const Report& r) {
  Chart c{"GEMM throughput", "(M*N*K)^(1/3)", "TFLOP/s", true, false, {}};
  std::map<std::string, Series> by;
  for (const auto& row : r.rows) {
    std::string name = row.value("layout", "") + " " + row.value("dtype", "");
    double size = std::cbrt(row.value("m", 0.0) * row.value("n", 0.0) * row.value("k", 0.0));
    by[name].name = name;
    by[name].points.emplace_back(size, row.value("tflops", 0.0));
  }
  for (auto& [_, s] : by) {
    std::sort(s.points.begin(), s.points.end());
    c.series.push_back(std::move(s));
  }
  return c;
}

Report gemm_model_report(const GemmModel& spec, Backend* backend, const std::string& device_name, int cpu_threads) {
  const double peak = peak_of(device_name, spec.dtype, cpu_threads);
  Report r;
  r.title = "gemm-model";
  r.columns = {{"gemm", "GEMM"},  {"pass", "pass"},   {"m", "M"}, {"n", "N"},  {"k", "K"}, {"layout", "layout"},
               {"calls", "calls/step"}, {"time_us", "time (us)", 1}, {"tflops", "TFLOP/s", 2}, {"peak_pct", "% peak", 1},
               {"step_ms", "ms/step", 3}};
  r.key_columns = {"gemm", "pass"};
  r.metric = "tflops";
  double layer_s = 0, layer_flops = 0, step_s = 0, step_flops = 0;
  for (auto g : model_gemms(spec.model, spec.micro_batch, spec.seq_len, spec.tensor, spec.dtype.dtype)) {
    if (spec.dtype.fp8) g.shape.fp8 = true, g.shape.trans_a = false, g.shape.trans_b = true;  // same M, N, K as nt
    log_info("gemm {} {}: {}x{}x{} {}", g.name, g.pass, g.shape.m, g.shape.n, g.shape.k, g.shape.layout());
    GemmResult res = gemm_run(g.shape, spec.run, backend);
    const double calls = static_cast<double>(g.per_step);
    if (g.per_layer) layer_s += res.mean_s, layer_flops += g.shape.flops();
    step_s += res.mean_s * calls;
    step_flops += g.shape.flops() * calls;
    r.rows.push_back({{"gemm", g.name}, {"pass", g.pass}, {"m", g.shape.m}, {"n", g.shape.n}, {"k", g.shape.k},
                      {"layout", g.shape.layout()}, {"calls", g.per_step}, {"time_us", res.mean_s * 1e6},
                      {"tflops", res.tflops}, {"peak_pct", peak_pct(res.tflops, peak)}, {"step_ms", res.mean_s * calls * 1e3}});
  }
  const double lt = layer_flops / layer_s / 1e12, st = step_flops / step_s / 1e12;
  r.rows.push_back({{"gemm", "layer total"}, {"pass", "all"}, {"calls", 1}, {"time_us", layer_s * 1e6}, {"tflops", lt},
                    {"peak_pct", peak_pct(lt, peak)}, {"step_ms", layer_s * 1e3}});
  r.rows.push_back({{"gemm", "step total"}, {"pass", "all"}, {"calls", 1}, {"time_us", step_s * 1e6}, {"tflops", st},
                    {"peak_pct", peak_pct(st, peak)}, {"step_ms", step_s * 1e3}});
  r.preamble["model"] = spec.model_name;
  r.preamble["shape"] = fmt::format("micro_batch={} seq_len={} tensor={} dtype={}{}", spec.micro_batch, spec.seq_len,
                                    spec.tensor, spec.dtype.fp8 ? "fp8" : dtype_name(spec.dtype.dtype),
                                    spec.dtype.fp8 ? " (every GEMM as nt: operands transposed beforehand, as fp8 training does)" : "");
  return r;
}

Chart gemm_model_chart(const Report& r) {
  Chart c{"GEMMs of one training step", "GFLOP per call", "TFLOP/s", true, false, {}};
  std::map<std::string, Series> by;
  for (const auto& row : r.rows) {
    if (!row.contains("m")) continue;  // totals
    std::string pass = row.value("pass", "");
    by[pass].name = pass;
    double gflop = 2.0 * row.value("m", 0.0) * row.value("n", 0.0) * row.value("k", 0.0) / 1e9;
    by[pass].points.emplace_back(gflop, row.value("tflops", 0.0));
  }
  for (auto& [_, s] : by) {
    std::sort(s.points.begin(), s.points.end());
    c.series.push_back(std::move(s));
  }
  return c;
}

}  // namespace primus::bench
