// The training loop (see trainer.h).
#include "train/trainer.h"

#include <cmath>
#include <csignal>
#include <limits>
#include <map>
#include <optional>

#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "train/hf_weights.h"
#include "train/metrics.h"
#include "train/pipeline_runner.h"
#include "train/signals.h"
#include "train/step_graph.h"

namespace primus::train {

struct Trainer::Outputs {
  MetricsWriter metrics;
  ProgressBar progress;
  double peak_tflops = 0;
  Outputs(const std::string& metrics_path, const std::string& progress_mode, int64_t steps)
      : metrics(metrics_path), progress(progress_mode, steps) {}
  Outputs(const std::string& progress_mode, int64_t steps) : progress(progress_mode, steps) {}
};

namespace {

bool finite(double x) { return std::isfinite(x); }

// The full AdamW moments for the lifetime of this object (a no-op when the optimizer holds them).
struct FullOptimizerState {
  AdamW& opt;
  explicit FullOptimizerState(AdamW& o) : opt(o) { opt.acquire_state(); }
  ~FullOptimizerState() { opt.release_state(); }
};

int64_t accumulation_steps(const config::TrainConfig& t, int dp_size) {
  const int64_t per_step = t.micro_batch_size * dp_size;
  if (per_step <= 0 || t.global_batch_size % per_step != 0)
    throw usage_error(fmt::format("train.global_batch_size {} is not a multiple of micro_batch_size {} x "
                                  "data-parallel size {}", t.global_batch_size, t.micro_batch_size, dp_size),
                      "make global_batch_size = micro_batch_size x data-parallel size x accumulation steps");
  return t.global_batch_size / per_step;
}

}  // namespace

Trainer::Trainer(const config::ExperimentConfig& cfg, models::Model& model, data::TokenLoader& train,
                 data::TokenLoader* valid, TrainerOptions options)
    : cfg_(cfg),
      model_(model),
      train_(train),
      valid_(valid),
      opts_(std::move(options)),
      optimizer_(cfg.optim, model.backend(), model.params(), model.num_params(),
                 /*hold_state=*/!(opts_.grad_sync && opts_.grad_sync->shards_optimizer())),
      schedule_(cfg.schedule, cfg.optim.lr, cfg.train.steps),
      rng_(cfg.train.seed),
      accum_(accumulation_steps(cfg.train, opts_.dp_size)) {
  PRIMUS_CHECK(opts_.dp_size == 1 || opts_.grad_sync != nullptr, "dp_size {} without a GradSync", opts_.dp_size);
  if (opts_.grad_sync) opts_.grad_sync->set_model(model, optimizer_.segments());
  const auto BT = static_cast<size_t>(model.batch_size() * model.seq_len());
  inputs_.resize(BT);
  targets_.resize(BT);
  const bool writer = opts_.dp_rank == 0 && opts_.tp_rank == 0 && opts_.pp_rank == 0;
  if (writer && !opts_.metrics_path.empty())
    out_ = std::make_unique<Outputs>(opts_.metrics_path, cfg.logging.progress, cfg.train.steps);
  else
    out_ = std::make_unique<Outputs>(writer ? cfg.logging.progress : "off", cfg.train.steps);
  loss_mem_ = model.backend().alloc(sizeof(float));
  loss_sum_ = loss_mem_.as(DType::kF32, {1});
  // The micro-batch loop as a recorded graph (CUDA), where the layout allows (see step_graph.h).
  graph_ = make_step_graph(cfg, model, accum_, opts_.grad_sync, opts_.pipeline != nullptr, writer);
  const DType compute = config::compute_dtype(cfg.precision);
  out_->peak_tflops = peak_tflops(device_product_name(model.backend().name()), compute,
                                  static_cast<int>(cfg.backend.threads));
}

Trainer::~Trainer() = default;

int64_t Trainer::graph_replays() const { return graph_ ? graph_->replays() : 0; }

void Trainer::init_from(const std::string& dir) {
  load_hf_weights(dir, model_);
  log_info("initialized weights from {}", dir);
}

void Trainer::resume(const std::string& checkpoint_dir) {
  const FullOptimizerState full(optimizer_);   // ZeRO-1: full moments only while loading
  state_ = load_checkpoint(checkpoint_dir, model_, optimizer_);
  if (opts_.grad_sync && opts_.grad_sync->shards_optimizer())
    opts_.grad_sync->load_optimizer_state(optimizer_.m(), optimizer_.v());
  train_.restore(state_.train_loader);
  rng_.set_state(state_.rng_state);
  log_info("resumed from {} at step {}", checkpoint_dir, state_.step);
}

double Trainer::train_step(double lr, bool* skipped, double* grad_norm) {
  const auto scale = static_cast<float>(1.0 / static_cast<double>(accum_));
  Tensor grads = model_.grads_buffer();   // (P)
  if (graph_) {
    graph_->run(train_, loss_sum_);
  } else {
    model_.zero_grads();
    model_.backend().fill(loss_sum_, 0.0f);
  }
  for (int64_t micro = 0; !graph_ && !opts_.pipeline && micro < accum_; ++micro) {
    train_.next(inputs_.data(), targets_.data());
    model_.forward_accumulate(inputs_.data(), targets_.data(), loss_sum_, scale, cfg_.data.ignore_index);
    // The last backward finalizes the step's gradients: a data-parallel sync may reduce them as it goes.
    const bool overlap = micro + 1 == accum_ && opts_.grad_sync && opts_.grad_sync->start_overlap(grads);
    if (overlap)
      model_.set_grad_ready_hook([this](int64_t offset, int64_t size) { opts_.grad_sync->grads_ready(offset, size); });
    model_.backward(scale);
    if (overlap) model_.set_grad_ready_hook({});
  }
  float loss_host = 0;
  model_.backend().copy_to_host(&loss_host, loss_sum_);   // the step's one read of the loss
  double loss = loss_host;
  if (opts_.pipeline)   // every micro-batch's forward and backward, over the stages (mean loss on every stage)
    loss = opts_.pipeline->run_step([this](int32_t* in, int32_t* tg) { train_.next(in, tg); }, scale,
                                    cfg_.data.ignore_index);
  if (opts_.after_backward) opts_.after_backward(state_.step, grads);
  const bool sharded = opts_.grad_sync && opts_.grad_sync->shards_optimizer();
  // Sums over the tensor group (sequence-parallel norms) and the first and last stage (tied
  // embedding copies) commute with the data-parallel average: after it, which may overlap
  // backward; before it under ZeRO-1, whose reduce-scatter leaves the model's buffer unaveraged.
  auto sum_model_grads = [this] {
    model_.reduce_tp_grads();
    if (opts_.pipeline) opts_.pipeline->sync_tied_grads();
  };
  if (sharded) sum_model_grads();
  if (opts_.grad_sync) {
    if (!graph_ || !graph_->averages_grads()) opts_.grad_sync->average_grads(grads);
    loss = opts_.grad_sync->average(loss);
  }
  if (!sharded) sum_model_grads();
  const bool tensor_parallel = model_.shard().tp_size() > 1;
  if (sharded) {   // this shard's part over the data group, then over the tensor group and the stages
    auto sq = static_cast<float>(opts_.grad_sync->sharded_grad_norm_squared());
    if (tensor_parallel)
      model_.shard().tensor->all_reduce(Tensor{&sq, DType::kF32, Shape{1}, DeviceKind::kCPU}, ReduceOp::kSum);
    *grad_norm = std::sqrt(opts_.pipeline ? opts_.pipeline->sum_over_stages(sq) : static_cast<double>(sq));
  } else {
    *grad_norm = tensor_parallel ? std::sqrt(model_.grad_norm_squared_tp()) : optimizer_.grad_norm(grads);
    if (opts_.pipeline) *grad_norm = std::sqrt(opts_.pipeline->grad_norm_squared(*grad_norm * *grad_norm));
  }
  *skipped = !finite(loss) || !finite(*grad_norm);
  if (!*skipped && sharded) opts_.grad_sync->sharded_step(model_.params_buffer(), optimizer_.next_args(lr, *grad_norm));
  if (!*skipped && !sharded) {   // mixed precision: AdamW also writes the bf16 copy the next forward reads
    optimizer_.step(model_.params_buffer(), grads, lr, *grad_norm, model_.compute_params_buffer());
    model_.compute_params_written();
  }
  return loss;
}

TrainResult Trainer::run() {
  StopSignalScope signals;
  TrainResult result;
  const int64_t total = cfg_.train.steps;
  const auto& log = cfg_.logging;
  const int64_t tokens_per_step = cfg_.train.global_batch_size * model_.seq_len();
  if (state_.step >= total) log_info("already at step {} of {}; nothing to train", state_.step, total);
  bool saved_at_step = false;
  while (state_.step < total) {
    const double lr = schedule_.lr(state_.step);
    Timer timer;
    bool skipped = false;
    double norm = 0;
    const double loss = train_step(lr, &skipped, &norm);
    model_.backend().synchronize();
    const double seconds = timer.seconds();
    if (result.losses.empty() && opts_.dp_rank == 0)
      log_info("first step done {:.2f} s after the process started", process_age_seconds());
    ++state_.step;
    state_.tokens_seen += tokens_per_step;
    saved_at_step = false;
    result.losses.push_back(skipped ? std::numeric_limits<double>::quiet_NaN() : loss);
    if (skipped) {
      ++nonfinite_in_row_;
      out_->progress.clear();
      log_warn("step {}: non-finite {} (loss {}, grad norm {}); update skipped ({} in a row, limit {})",
               state_.step, finite(loss) ? "gradient" : "loss", loss, norm, nonfinite_in_row_,
               cfg_.train.max_nonfinite_steps);
      if (nonfinite_in_row_ >= cfg_.train.max_nonfinite_steps)
        throw Error(fmt::format("training stopped at step {}: {} non-finite steps in a row", state_.step,
                                nonfinite_in_row_),
                    "lower optim.lr, raise lr_warmup_steps or check the data; the last checkpoint is intact");
    } else {
      nonfinite_in_row_ = 0;
    }
    if (log.every_steps > 0 && (state_.step % log.every_steps == 0 || state_.step == total || skipped))
      log_step(loss, lr, norm, seconds, skipped);
    out_->progress.update(state_.step, seconds, fmt::format("loss {:.4f}", loss));
    if (valid_ && log.eval_every_steps > 0 && (state_.step % log.eval_every_steps == 0 || state_.step == total)) {
      result.last_valid_loss = evaluate();
      result.unigram_entropy = unigram_entropy_;
    }
    const bool stop = stop_requested();
    const bool periodic = cfg_.checkpoint.every_steps > 0 && state_.step % cfg_.checkpoint.every_steps == 0;
    const bool at_end = state_.step == total && cfg_.checkpoint.save_at_end;
    if (!opts_.checkpoints_dir.empty() && (periodic || at_end || stop)) {
      result.last_checkpoint = save_checkpoint();
      saved_at_step = true;
    }
    if (stop) {
      out_->progress.clear();
      log_warn("stopping on signal {} after step {}{}", stop_signal(), state_.step,
               saved_at_step ? "; checkpoint " + result.last_checkpoint : std::string());
      result.stopped_by_signal = true;
      break;
    }
  }
  out_->progress.finish();
  result.final_step = state_.step;
  return result;
}

void Trainer::log_step(double loss, double lr, double grad_norm, double seconds, bool skipped) {
  // Per GPU (per rank): a replica's tokens are shared by its tensor x pipeline ranks, so tokens/s,
  // TFLOP/s and MFU are each rank's share of the full model's work.
  const int model_ranks = opts_.model_group ? opts_.model_group->size() : 1;
  const double tokens =
      static_cast<double>(cfg_.train.global_batch_size / opts_.dp_size * model_.seq_len()) / model_ranks;
  const Throughput tp = throughput(tokens, seconds, model_.flops_per_token(), out_->peak_tflops);
  const size_t device_mem = model_.backend().peak_memory_bytes();
  const size_t mem = model_.backend().device() == DeviceKind::kCPU ? process_peak_rss_bytes() : device_mem;
  if (opts_.dp_rank != 0 || opts_.tp_rank != 0 || opts_.pp_rank != 0) return;
  out_->progress.clear();
  const std::string mfu = out_->peak_tflops > 0 ? fmt::format("{:.1f}%", 100 * tp.mfu) : std::string("n/a");
  log_info("step {:>6}/{} | loss {:.4f} | lr {:.3e} | grad norm {:.3f} | {:.0f} tok/s | {:.3g} TFLOP/s | "
           "MFU {} | mem {} | {:.2f} s/step{}",
           state_.step, cfg_.train.steps, loss, lr, grad_norm, tp.tokens_per_s, tp.tflops, mfu,
           format_bytes(static_cast<double>(mem)), seconds, skipped ? " | skipped" : "");
  out_->progress.redraw();
  nlohmann::json rec = {{"step", state_.step}, {"loss", finite(loss) ? nlohmann::json(loss) : nlohmann::json()},
                        {"lr", lr}, {"grad_norm", finite(grad_norm) ? nlohmann::json(grad_norm) : nlohmann::json()},
                        {"tokens_per_s", tp.tokens_per_s}, {"tflops", tp.tflops}, {"mfu", tp.mfu},
                        {"step_s", seconds}, {"tokens_seen", state_.tokens_seen}, {"mem_bytes", mem},
                        {"skipped", skipped}};
  out_->metrics.write(rec);
}

double Trainer::evaluate() {
  if (!valid_) return -1;
  valid_->rewind();
  const int64_t n = std::max<int64_t>(1, cfg_.logging.eval_steps);
  const bool count = unigram_entropy_ < 0;
  std::map<int32_t, int64_t> counts;
  int64_t total = 0;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    valid_->next(inputs_.data(), targets_.data());
    sum += opts_.pipeline ? opts_.pipeline->forward_only(inputs_.data(), targets_.data(), cfg_.data.ignore_index)
                          : model_.forward(inputs_.data(), targets_.data(), cfg_.data.ignore_index);
    if (count)
      for (int32_t t : targets_)
        if (t != cfg_.data.ignore_index) ++counts[t], ++total;
  }
  double loss = sum / static_cast<double>(n);
  if (opts_.grad_sync) loss = opts_.grad_sync->average(loss);
  if (count && total > 0) {
    // Entropy of the validation targets' own unigram distribution: the loss of a model that knows
    // token frequencies but no context.
    double h = 0;
    for (const auto& [tok, c] : counts) {
      const double p = static_cast<double>(c) / static_cast<double>(total);
      h -= p * std::log(p);
    }
    unigram_entropy_ = h;
  }
  if (opts_.dp_rank == 0 && opts_.tp_rank == 0 && opts_.pp_rank == 0) {
    out_->progress.clear();
    log_info("step {:>6} | valid loss {:.4f} (unigram entropy {:.4f})", state_.step, loss, unigram_entropy_);
    out_->progress.redraw();
    out_->metrics.write({{"step", state_.step}, {"valid_loss", loss}, {"unigram_entropy", unigram_entropy_}});
  }
  return loss;
}

size_t Trainer::optimizer_state_bytes() const {
  return optimizer_.state_bytes() + (opts_.grad_sync ? opts_.grad_sync->optimizer_state_bytes() : 0);
}

std::string Trainer::save_checkpoint() {
  if (opts_.checkpoints_dir.empty()) return {};
  const FullOptimizerState full(optimizer_);   // ZeRO-1: full moments only while saving
  if (opts_.grad_sync && opts_.grad_sync->shards_optimizer())
    opts_.grad_sync->gather_optimizer_state(optimizer_.m(), optimizer_.v());
  // Tensor parallel: data rank 0's tensor group gathers the full model for its rank 0 to write.
  std::optional<FullState> gathered;
  // Pipeline parallel: over every stage too (opts_.model_group).
  if (opts_.dp_rank == 0 && (model_.shard().tp_size() > 1 || opts_.pipeline))
    gathered = gather_full_state(model_, optimizer_.m(), optimizer_.v(), opts_.model_group);
  if (opts_.dp_rank != 0 || opts_.tp_rank != 0 || opts_.pp_rank != 0) return {};
  state_.rng_state = rng_.state();
  state_.train_loader = train_.state();
  state_.extra = {{"exp_name", cfg_.exp_name}, {"lr", schedule_.lr(std::max<int64_t>(0, state_.step - 1))}};
  CheckpointSaveOptions so;
  so.keep_last = cfg_.checkpoint.keep_last;
  so.tokenizer_path = cfg_.data.tokenizer;
  so.before_publish = opts_.before_publish;
  so.full_state = gathered ? &*gathered : nullptr;
  out_->progress.clear();
  const std::string dir = train::save_checkpoint(opts_.checkpoints_dir, model_, optimizer_, state_, so);
  log_info("saved checkpoint {}", dir);
  out_->progress.redraw();
  return dir;
}

}  // namespace primus::train
