// End-to-end benchmark (see e2e.h).
#include "bench/e2e.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "data/loader.h"
#include "models/model.h"
#include "runtime/backends.h"
#include "train/metrics.h"
#include "train/optimizer.h"
#include "train/step_graph.h"

namespace primus::bench {

Report e2e_report(const config::ExperimentConfig& base, const E2eOptions& o) {
  Report r;
  r.title = "e2e";
  r.columns = {{"model", "model"}, {"micro_batch", "B"}, {"seq_len", "T"}, {"accum", "accum"}, {"dtype", "compute"},
               {"step_ms", "step (ms)", 1}, {"tokens_per_s", "tokens/s", 0}, {"tflops", "TFLOP/s", 2}, {"mfu_pct", "MFU %", 1},
               {"peak_mem_gib", "peak mem (GiB)", 3}, {"loss", "loss", 3}};
  r.key_columns = {"model", "micro_batch", "seq_len", "dtype"};
  r.metric = "tokens_per_s";
  std::vector<int64_t> batches = o.micro_batches;
  if (batches.empty()) batches.push_back(base.train.micro_batch_size);
  const std::string model_name = base.model.preset.empty() ? base.model.arch : base.model.preset;
  for (int64_t B : batches) {
    config::ExperimentConfig cfg = base;
    cfg.train.micro_batch_size = B;
    const int64_t T = cfg.train.seq_len;
    const int64_t accum = std::max<int64_t>(1, cfg.train.global_batch_size / B);
    if (!o.real_data) cfg.data.mock = true;
    const DType compute = config::compute_dtype(cfg.precision);
    auto backend = runtime::make_backend(cfg.backend.device, o.threads ? o.threads : static_cast<int>(cfg.backend.threads));
    const double backend_ready = train::process_age_seconds();
    models::Model model(cfg.model, *backend, B, T, compute, {}, models::parse_recompute(cfg.backend.recompute));
    const double model_allocated = train::process_age_seconds();
    model.init_weights(cfg.train.seed);
    log_info("start-up, seconds after the process started: backend {:.2f}, model allocated {:.2f}, weights drawn {:.2f}",
             backend_ready, model_allocated, train::process_age_seconds());
    train::AdamW opt(cfg.optim, *backend, model.params(), model.num_params());
    auto loader = data::make_loader(cfg.data, data::Split::kTrain, B, T, 0, 1, cfg.train.seed, cfg.model.vocab_size);
    // The trainer's step: micro-batches recorded as a CUDA graph where backend.cuda_graphs allows,
    // the loss kept on the device and read once per step (with the gradient norm).
    train::StepGraph micro_batches(model, accum, cfg.data.ignore_index, cfg.backend.cuda_graphs);
    Buffer loss_mem = backend->alloc(sizeof(float));
    const Tensor loss_sum = loss_mem.as(DType::kF32, {1});  // (1)
    float loss = 0;
    auto step = [&] {
      micro_batches.run(*loader, loss_sum);
      backend->copy_to_host(&loss, loss_sum);
      opt.step(model.params_buffer(), model.grads_buffer(), cfg.optim.lr, opt.grad_norm(model.grads_buffer()),
               model.compute_params_buffer());
      model.compute_params_written();
    };
    log_info("e2e {} B={} T={} accum={} recompute={} cuda_graphs={}", model_name, B, T, accum, cfg.backend.recompute,
             micro_batches.recording());
    for (int i = 0; i < o.warmup; ++i) {
      step();
      if (i == 0) {
        backend->synchronize();
        log_info("first step done {:.2f} s after the process started", train::process_age_seconds());
      }
    }
    backend->synchronize();
    Timer t;
    for (int i = 0; i < o.steps; ++i) step();
    backend->synchronize();
    const double step_s = t.seconds() / std::max(1, o.steps);
    const std::string product = train::device_product_name(backend->name());
    const double peak = train::peak_tflops(product, compute, o.threads);
    const train::Throughput tp = train::throughput(static_cast<double>(B * T * accum), step_s, model.flops_per_token(), peak);
    r.rows.push_back({{"model", model_name}, {"micro_batch", B}, {"seq_len", T}, {"accum", accum},
                      {"dtype", std::string(dtype_name(compute))}, {"step_ms", step_s * 1e3}, {"tokens_per_s", tp.tokens_per_s},
                      {"tflops", tp.tflops}, {"mfu_pct", peak > 0 ? nlohmann::json(100.0 * tp.mfu) : nlohmann::json()},
                      {"peak_mem_gib", static_cast<double>(backend->peak_memory_bytes()) / double(1 << 30)},
                      {"loss", std::isfinite(loss) ? nlohmann::json(loss) : nlohmann::json()}});
  }
  return r;
}

Chart e2e_chart(const Report& r) {
  Chart c{"End-to-end training throughput", "micro-batch size", "tokens/s", true, false, {}};
  Series s{"tokens/s", {}};
  for (const auto& row : r.rows) s.points.emplace_back(row.value("micro_batch", 0.0), row.value("tokens_per_s", 0.0));
  c.series.push_back(std::move(s));
  return c;
}

}  // namespace primus::bench
