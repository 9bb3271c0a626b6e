// Recording and replaying a training step's micro-batch loop (see step_graph.h).
#include "train/step_graph.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/log.h"
#include "train/trainer.h"

namespace primus::train {

StepGraph::StepGraph(models::Model& model, int64_t accum, int64_t ignore_index, bool record, GradSync* sync)
    : model_(model), backend_(model.backend()), sync_(sync), accum_(accum), ignore_index_(ignore_index),
      BT_(model.batch_size() * model.seq_len()), record_(record && model.backend().supports_graphs()) {
  host_mem_ = backend_.alloc_host(static_cast<size_t>(2 * accum_ * BT_) * sizeof(int32_t));
  auto* base = static_cast<int32_t*>(host_mem_.data());
  for (int64_t m = 0; m < accum_; ++m) {
    inputs_.push_back(base + 2 * m * BT_);
    targets_.push_back(base + (2 * m + 1) * BT_);
  }
  counts_.resize(static_cast<size_t>(accum_));
}

void StepGraph::run_ops(Tensor loss_sum) {
  const auto scale = static_cast<float>(1.0 / static_cast<double>(accum_));
  Tensor grads = model_.grads_buffer();   // (P)
  backend_.fill(loss_sum, 0.0f);
  model_.zero_grads();
  for (int64_t m = 0; m < accum_; ++m) {
    model_.forward_accumulate(inputs_[m], targets_[m], loss_sum, scale, ignore_index_);
    // As the trainer's eager loop: the last backward starts the buckets' all-reduces as they complete.
    const bool overlap = sync_ && m + 1 == accum_ && sync_->start_overlap(grads);
    if (overlap) model_.set_grad_ready_hook([this](int64_t offset, int64_t size) { sync_->grads_ready(offset, size); });
    model_.backward(scale);
    if (overlap) model_.set_grad_ready_hook({});
  }
  if (sync_) sync_->average_grads(grads);   // recorded: the compute stream waits for every bucket
}

bool StepGraph::every_rank(bool yes) {
  // The mean of 1s is exactly 1; one host all-reduce of a scalar per step.
  return !sync_ || sync_->average(yes ? 1.0 : 0.0) == 1.0;
}

void StepGraph::run(data::TokenLoader& loader, Tensor loss_sum) {
  const int64_t V = model_.dims().V;
  for (int64_t m = 0; m < accum_; ++m) {  // the previous step has finished reading these buffers
    loader.next(inputs_[m], targets_[m]);
    for (int64_t i = 0; i < BT_; ++i)
      if (inputs_[m][i] < 0 || inputs_[m][i] >= V)
        throw Error(fmt::format("token id {} at position {} is outside the vocabulary [0, {})", inputs_[m][i], i, V),
                    "the data and model.vocab_size disagree: check the tokenizer");
    counts_[m] = model_.count_targets(targets_[m], ignore_index_);
  }
  // The first step runs eagerly (it sizes the backend's workspaces); then record once and replay.
  if (record_ && eager_ > 0 && !recorded_) record(loss_sum);
  if (recorded_ && every_rank(counts_ == recorded_counts_ && loss_sum.data == recorded_loss_.data)) {
    // The backend dropped the recording (a workspace moved): the same program on every rank, so
    // with a sync every rank records again at this step.
    if (!backend_.graph_replay()) {
      record(loss_sum);
      PRIMUS_CHECK(backend_.graph_replay(), "a graph recorded just now cannot be replayed");
    }
    ++replays_;
    return;
  }
  run_ops(loss_sum);
  ++eager_;
}

void StepGraph::record(Tensor loss_sum) {
  recorded_ = false;
  backend_.graph_begin();
  try {
    run_ops(loss_sum);
  } catch (...) {
    try {
      backend_.graph_end();   // closes the stream's capture; fails when the error invalidated it
    } catch (const Error&) {
    }
    backend_.graph_reset();
    throw;
  }
  backend_.graph_end();
  recorded_ = true;
  recorded_counts_ = counts_;
  recorded_loss_ = loss_sum;
}

std::unique_ptr<StepGraph> make_step_graph(const config::ExperimentConfig& cfg, models::Model& model, int64_t accum,
                                           GradSync* sync, bool pipeline, bool log) {
  if (!cfg.backend.cuda_graphs || !model.backend().supports_graphs()) return nullptr;
  const bool zero1 = sync && sync->shards_optimizer();
  const char* why_not = cfg.parallel.tensor > 1 || model.shard().tp_size() > 1 ? "tensor parallelism"
                        : cfg.parallel.pipeline > 1 || pipeline                ? "pipeline parallelism"
                        : sync && !zero1 && !sync->recordable() ? "a data-parallel sync that cannot be recorded"
                                                                : nullptr;
  if (log && (why_not || sync)) {
    if (why_not)
      log_info("CUDA graph: off under {}; the step runs eagerly", why_not);
    else if (zero1)
      log_info("CUDA graph: the micro-batch loop is recorded once and replayed; ZeRO-1's reduce-scatter, norm and "
               "all-gather run after it");
    else
      log_info("CUDA graph: the micro-batch loop with its data-parallel bucket all-reduces is recorded once and "
               "replayed");
  }
  if (why_not) return nullptr;
  return std::make_unique<StepGraph>(model, accum, cfg.data.ignore_index, true, zero1 ? nullptr : sync);
}

}  // namespace primus::train
