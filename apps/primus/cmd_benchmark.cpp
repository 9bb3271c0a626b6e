// `primus benchmark gemm|attention|collective|e2e|tokenizer`: operator and end-to-end baselines.
// Each prints a table and takes --out FILE.{md,csv,jsonl}, --plot FILE.svg and --baseline
// FILE.jsonl --tolerance PCT (exit 1 listing every regression). The work lives in src/bench.
#include <memory>

#include "apps/primus/commands.h"
#include "bench/gemm_suite.h"
#include "bench/host_info.h"
#include "bench/model_gemms.h"
#include "bench/output.h"
#include "bench/sweep.h"
#include "core/error.h"
#include "runtime/backends.h"
#include "train/metrics.h"

namespace primus::app {
namespace {

void add_output_options(CLI::App* cmd, bench::OutputOptions& o) {
  cmd->add_option("--out", o.out, "write the report: FILE.md, FILE.csv or FILE.jsonl (repeatable)");
  cmd->add_option("--plot", o.plot, "draw the sweep as an SVG chart");
  cmd->add_option("--baseline", o.baseline, "compare with an earlier --out FILE.jsonl; exit 1 on regressions");
  cmd->add_option("--tolerance", o.tolerance_pct, "allowed drop of the metric against the baseline, percent")
      ->capture_default_str();
}

struct GemmArgs {
  std::string m = "4096", n = "4096", k = "4096", layouts = "nt", dtypes = "fp32", device = "cpu", model;
  int64_t micro_batch = 8, seq_len = 1024, tensor = 1;
  int threads = 0, warmup = 2, iters = 10;
  int64_t rotate_mib = 0;
  bench::OutputOptions out;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t c = s.find(',', start);
    if (c == std::string::npos) c = s.size();
    if (c > start) out.push_back(s.substr(start, c - start));
    start = c + 1;
  }
  return out;
}

void gemm_command(const GemmArgs& a) {
  std::unique_ptr<Backend> backend;
  if (a.device != "cpu") backend = runtime::make_backend(a.device, a.threads);
  bench::gemm_host_threads_set(a.threads);
  bench::GemmOptions run{a.warmup, a.iters, a.rotate_mib << 20, true};
  const std::string product = train::device_product_name(backend ? backend->name() : "cpu");
  bench::Report report;
  std::vector<bench::Chart> charts;
  if (!a.model.empty()) {
    bench::GemmModel spec;
    spec.model = bench::model_config_resolve(a.model, a.seq_len);
    spec.model_name = a.model;
    spec.micro_batch = a.micro_batch, spec.seq_len = a.seq_len, spec.tensor = a.tensor;
    auto dts = split_list(a.dtypes);
    if (dts.size() != 1) throw usage_error("--model takes one --dtype");
    spec.dtype = bench::gemm_dtype_parse(dts[0]);
    spec.run = run;
    report = bench::gemm_model_report(spec, backend.get(), product, a.threads);
    charts = {bench::gemm_model_chart(report)};
  } else {
    bench::GemmSweep s;
    s.m = bench::sweep_parse(a.m, "--m");
    s.n = bench::sweep_parse(a.n, "--n");
    s.k = bench::sweep_parse(a.k, "--k");
    s.layouts = split_list(a.layouts);
    for (const auto& l : s.layouts) bench::layout_parse(l);
    for (const auto& d : split_list(a.dtypes)) s.dtypes.push_back(bench::gemm_dtype_parse(d));
    s.run = run;
    report = bench::gemm_sweep_report(s, backend.get(), product, a.threads);
    charts = {bench::gemm_sweep_chart(report)};
  }
  nlohmann::json extra = report.preamble;
  report.preamble = bench::preamble_collect(bench::command_line(), bench::device_descriptions(a.device, a.threads));
  report.preamble.update(extra);
  bench::report_finish(report, a.out, charts);
}

void add_gemm(CLI::App* parent) {
  auto a = std::make_shared<GemmArgs>();
  auto* cmd = parent->add_subcommand("gemm", "GEMM TFLOP/s over sizes, layouts and dtypes, or a model's GEMM shapes");
  cmd->add_option("--m", a->m, "rows of C: a value, a list (1024,2048) or a range (1024:8192:x2)")->capture_default_str();
  cmd->add_option("--n", a->n, "columns of C (same forms)")->capture_default_str();
  cmd->add_option("--k", a->k, "inner dimension (same forms)")->capture_default_str();
  cmd->add_option("--layout", a->layouts, "transposes of A and B, e.g. nt,nn,tn (nt = the linear forward)")->capture_default_str();
  cmd->add_option("--dtype", a->dtypes, "fp32, bf16, or a list")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu (OpenBLAS) or cuda (cuBLASLt through the backend)")->capture_default_str();
  cmd->add_option("--model", a->model, "derive the GEMMs of a preset or experiment file (per layer and per step)");
  cmd->add_option("--micro-batch", a->micro_batch, "with --model: sequences per micro-batch (B)")->capture_default_str();
  cmd->add_option("--seq-len", a->seq_len, "with --model: tokens per sequence (T)")->capture_default_str();
  cmd->add_option("--tensor", a->tensor, "with --model: tensor-parallel size sharding the GEMMs")->capture_default_str();
  cmd->add_option("--threads", a->threads, "CPU threads; 0 = all cores")->capture_default_str();
  cmd->add_option("--warmup", a->warmup, "untimed calls per case")->capture_default_str();
  cmd->add_option("--iters", a->iters, "timed calls per case")->capture_default_str();
  cmd->add_option("--rotate-mib", a->rotate_mib, "input bytes to rotate over; 0 = 4x the last-level cache")->capture_default_str();
  add_output_options(cmd, a->out);
  cmd->callback([a] { gemm_command(*a); });
}

}  // namespace

void add_benchmark_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("benchmark", "operator and end-to-end benchmarks with reports and regression checks");
  cmd->require_subcommand(1);
  add_gemm(cmd);
}

}  // namespace primus::app
