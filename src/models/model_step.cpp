// The training step's device-side helpers of Model (see model.h): the forward whose loss stays on
// the backend (no host synchronisation per micro-batch, recordable in a graph) and the host-side
// target count that tells whether a recorded step still applies to a micro-batch.
#include <fmt/format.h>

#include "core/error.h"
#include "models/model.h"

namespace primus::models {

void Model::forward_accumulate(const int32_t* inputs, const int32_t* targets, Tensor loss_sum, float weight,
                               int64_t ignore_index) {
  PRIMUS_CHECK(targets != nullptr && loss_sum.dtype == DType::kF32 && loss_sum.numel() == 1,
               "forward_accumulate needs targets and a (1) fp32 loss");
  loss_sum_ = loss_sum;
  loss_weight_ = weight;
  try {
    forward(inputs, targets, ignore_index);
  } catch (...) {
    loss_sum_ = Tensor{};
    throw;
  }
  loss_sum_ = Tensor{};
}

int64_t Model::count_targets(const int32_t* targets, int64_t ignore_index) const {
  const int64_t N = B_ * T_;
  int64_t valid = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (targets[i] == ignore_index) continue;
    if (targets[i] < 0 || targets[i] >= dims_.V)
      throw Error(fmt::format("target id {} at position {} is outside the vocabulary [0, {})", targets[i], i, dims_.V),
                  "the data and model.vocab_size disagree: check the tokenizer");
    ++valid;
  }
  return valid;
}

}  // namespace primus::models
