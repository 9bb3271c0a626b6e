// `primus benchmark gemm|attention|collective|e2e|tokenizer`: operator and end-to-end baselines.
// Each prints a table and takes --out FILE.{md,csv,jsonl}, --plot FILE.svg and --baseline
// FILE.jsonl --tolerance PCT (exit 1 listing every regression). The work lives in src/bench.
#include <memory>

#include "apps/primus/commands.h"
#include "bench/attention.h"
#include "bench/collective.h"
#include "bench/e2e.h"
#include "bench/gemm_suite.h"
#include "bench/host_info.h"
#include "bench/model_gemms.h"
#include "bench/output.h"
#include "bench/sweep.h"
#include "bench/tokenizer_suite.h"
#include "config/loader.h"
#include "dist/comm.h"
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

void finish(bench::Report& report, const bench::OutputOptions& out, const std::string& device, int threads,
            const std::vector<bench::Chart>& charts);

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
    spec.dtype = bench::gemm_precision_parse(dts[0]);
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
    for (const auto& d : split_list(a.dtypes)) s.dtypes.push_back(bench::gemm_precision_parse(d));
    s.run = run;
    report = bench::gemm_sweep_report(s, backend.get(), product, a.threads);
    charts = {bench::gemm_sweep_chart(report)};
  }
  finish(report, a.out, a.device, a.threads, charts);
}

void add_gemm(CLI::App* parent) {
  auto a = std::make_shared<GemmArgs>();
  auto* cmd = parent->add_subcommand("gemm", "GEMM TFLOP/s over sizes, layouts and dtypes, or a model's GEMM shapes");
  cmd->add_option("--m", a->m, "rows of C: a value, a list (1024,2048) or a range (1024:8192:x2)")->capture_default_str();
  cmd->add_option("--n", a->n, "columns of C (same forms)")->capture_default_str();
  cmd->add_option("--k", a->k, "inner dimension (same forms)")->capture_default_str();
  cmd->add_option("--layout", a->layouts, "transposes of A and B, e.g. nt,nn,tn (nt = the linear forward)")->capture_default_str();
  cmd->add_option("--dtype", a->dtypes, "fp32, bf16, fp8 (E4M3, layout nt, GPUs of compute capability 8.9+), or a list")->capture_default_str();
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

void finish(bench::Report& report, const bench::OutputOptions& out, const std::string& device, int threads,
            const std::vector<bench::Chart>& charts) {
  nlohmann::json extra = report.preamble;
  report.preamble = bench::preamble_collect(bench::command_line(), bench::device_descriptions(device, threads));
  report.preamble.update(extra);
  bench::report_finish(report, out, charts);
}

struct AttentionArgs {
  std::string seq_lens = "512:4096:x2", device = "cpu", dtype = "fp32", model;
  int64_t batch = 1, heads = 12, kv_heads = 0, head_dim = 64;
  int threads = 0, warmup = 1, iters = 5;
  bench::OutputOptions out;
};

void add_attention(CLI::App* parent) {
  auto a = std::make_shared<AttentionArgs>();
  auto* cmd = parent->add_subcommand("attention", "causal attention forward/backward TFLOP/s over sequence lengths");
  cmd->add_option("--seq-len", a->seq_lens, "sequence lengths: value, list or range")->capture_default_str();
  cmd->add_option("--batch", a->batch, "sequences (B)")->capture_default_str();
  cmd->add_option("--heads", a->heads, "query heads (NH)")->capture_default_str();
  cmd->add_option("--kv-heads", a->kv_heads, "key/value heads (NKV); 0 = heads")->capture_default_str();
  cmd->add_option("--head-dim", a->head_dim, "head size (HS)")->capture_default_str();
  cmd->add_option("--model", a->model, "take heads, kv heads and head size from a preset or experiment file");
  cmd->add_option("--dtype", a->dtype, "fp32 or bf16")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--threads", a->threads, "CPU threads; 0 = all cores")->capture_default_str();
  cmd->add_option("--warmup", a->warmup, "untimed calls per case")->capture_default_str();
  cmd->add_option("--iters", a->iters, "timed calls per case")->capture_default_str();
  add_output_options(cmd, a->out);
  cmd->callback([a] {
    bench::AttentionSweep s;
    s.seq_lens = bench::sweep_parse(a->seq_lens, "--seq-len");
    s.batch = a->batch, s.heads = a->heads, s.kv_heads = a->kv_heads ? a->kv_heads : a->heads, s.head_dim = a->head_dim;
    if (!a->model.empty()) {
      const auto m = bench::model_config_resolve(a->model, s.seq_lens.front());
      s.heads = m.num_attention_heads;
      s.kv_heads = m.num_kv_heads ? m.num_kv_heads : m.num_attention_heads;
      s.head_dim = m.hidden_size / m.num_attention_heads;
    }
    s.dtype = bench::gemm_dtype_parse(a->dtype);
    s.warmup = a->warmup, s.iters = a->iters;
    auto backend = runtime::make_backend(a->device, a->threads);
    const double peak = train::peak_tflops(train::device_product_name(backend->name()), s.dtype, a->threads);
    bench::Report report = bench::attention_report(s, *backend, peak);
    finish(report, a->out, a->device, a->threads, {bench::attention_chart(report)});
  });
}

struct CollectiveArgs {
  std::string ops = "all_reduce,all_gather,reduce_scatter,broadcast,all_to_all,send_recv", sizes = "1K:64M:x4", device = "cpu";
  int warmup = 2, iters = 10;
  bench::OutputOptions out;
};

void add_collective(CLI::App* parent) {
  auto a = std::make_shared<CollectiveArgs>();
  auto* cmd = parent->add_subcommand("collective", "collective latency and bus bandwidth over message sizes (run under mpirun)");
  cmd->add_option("--ops", a->ops, "collectives, comma-separated")->capture_default_str();
  cmd->add_option("--sizes", a->sizes, "message sizes in bytes: value, list or range (1K:64M:x4)")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu (MPI) or cuda (NCCL)")->capture_default_str();
  cmd->add_option("--warmup", a->warmup, "untimed iterations per size")->capture_default_str();
  cmd->add_option("--iters", a->iters, "timed iterations per size")->capture_default_str();
  add_output_options(cmd, a->out);
  cmd->callback([a] {
    bench::CollectiveSweep s;
    for (const auto& op : split_list(a->ops)) s.ops.push_back(bench::collective_parse(op));
    s.sizes = bench::sweep_parse(a->sizes, "--sizes");
    s.warmup = a->warmup, s.iters = a->iters;
    const bool cuda = a->device.rfind("cuda", 0) == 0;
    const dist::LaunchInfo launch = dist::detect_launch();
    auto backend = runtime::make_backend(cuda ? fmt::format("cuda:{}", launch.local_rank) : "cpu", 1);
    auto comm = dist::make_world_comm(cuda ? DeviceKind::kCUDA : DeviceKind::kCPU, launch.local_rank);
    int wrong = 0;
    bench::Report report = bench::collective_report(s, *comm, *backend, &wrong);
    report.preamble["comm"] = std::string(comm->name());
    if (comm->rank() != 0) return;
    finish(report, a->out, a->device, 0, {bench::collective_chart(report)});
    if (wrong) throw Error(fmt::format("{} collective result(s) were wrong", wrong), "see the WRONG rows and the warnings above");
  });
}

struct E2eArgs {
  std::string config, micro_batches;
  std::vector<std::string> overrides;
  bench::E2eOptions run;
  bench::OutputOptions out;
};

void add_e2e(CLI::App* parent) {
  auto a = std::make_shared<E2eArgs>();
  auto* cmd = parent->add_subcommand("e2e", "training steps of a config: tokens/s, TFLOP/s, MFU, peak memory");
  cmd->add_option("-c,--config", a->config, "experiment file")->required();
  cmd->add_option("--set", a->overrides, "override a config key (key=value), repeatable");
  cmd->add_option("--micro-batch", a->micro_batches, "sweep micro-batch sizes: value, list or range");
  cmd->add_option("--warmup", a->run.warmup, "untimed steps")->capture_default_str();
  cmd->add_option("--steps", a->run.steps, "timed steps")->capture_default_str();
  cmd->add_flag("--real-data", a->run.real_data, "read the config's datasets instead of mock tokens");
  cmd->add_option("--threads", a->run.threads, "CPU threads; 0 = the config's")->capture_default_str();
  add_output_options(cmd, a->out);
  cmd->callback([a] {
    std::vector<std::string> overrides = a->overrides;
    if (!a->run.real_data) overrides.push_back("data.mock=true");
    const config::ExperimentConfig cfg = config::load_experiment(a->config, overrides);
    bench::E2eOptions run = a->run;
    if (!a->micro_batches.empty()) run.micro_batches = bench::sweep_parse(a->micro_batches, "--micro-batch");
    bench::Report report = bench::e2e_report(cfg, run);
    report.preamble["config"] = a->config;
    finish(report, a->out, cfg.backend.device, run.threads, {bench::e2e_chart(report)});
  });
}

struct TokenizerArgs {
  data::TokenizerBenchOptions run;
  bench::OutputOptions out;
};

void add_tokenizer(CLI::App* parent) {
  auto a = std::make_shared<TokenizerArgs>();
  auto* cmd = parent->add_subcommand("tokenizer", "tokenizer encoding throughput on a corpus");
  cmd->add_option("--tokenizer", a->run.tokenizer, "tokenizer.json")->required();
  cmd->add_option("--input", a->run.inputs, "corpus files, folders or globs")->required();
  cmd->add_option("--threads", a->run.threads, "threads of the all-threads row; 0 = all cores")->capture_default_str();
  cmd->add_option("--repeats", a->run.repeats, "warm passes; the best is reported")->capture_default_str();
  add_output_options(cmd, a->out);
  cmd->callback([a] {
    bench::Report report = bench::tokenizer_report(a->run);
    finish(report, a->out, "cpu", a->run.threads, {});
  });
}

}  // namespace

void add_benchmark_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("benchmark", "operator and end-to-end benchmarks with reports and regression checks");
  cmd->require_subcommand(1);
  add_gemm(cmd);
  add_attention(cmd);
  add_collective(cmd);
  add_e2e(cmd);
  add_tokenizer(cmd);
}

}  // namespace primus::app
