// Recording and replaying a training step's micro-batch loop (see step_graph.h).
#include "train/step_graph.h"

#include <fmt/format.h>

#include "core/error.h"

namespace primus::train {

StepGraph::StepGraph(models::Model& model, int64_t accum, int64_t ignore_index, bool record)
    : model_(model), backend_(model.backend()), accum_(accum), ignore_index_(ignore_index),
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
  backend_.fill(loss_sum, 0.0f);
  model_.zero_grads();
  for (int64_t m = 0; m < accum_; ++m) {
    model_.forward_accumulate(inputs_[m], targets_[m], loss_sum, scale, ignore_index_);
    model_.backward(scale);
  }
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
  if (recorded_ && counts_ == recorded_counts_ && loss_sum.data == recorded_loss_.data) {
    if (!backend_.graph_replay()) {  // the backend dropped the recording (a workspace moved)
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

}  // namespace primus::train
