// A checkpoint always holds the full model, whatever layout wrote it: Hugging Face weights and the
// full AdamW moments, flat in the full model's plan_params(cfg) order. Under tensor parallelism
// every rank of the tensor group gathers its slices into that layout (a collective) before the
// writing rank saves it; loading takes each rank's slices back (models/shard.h).
#pragma once
#include <vector>

#include "models/model.h"

namespace primus::train {

struct FullState {
  std::vector<float> params, m, v;   // (P of the full model) each, host
};

// Collective over model.shard().tensor: the full parameters and moments m, v (P, this rank's
// layout) on every rank of the group. Split parameters come from every rank, replicated ones from
// tensor rank 0.
// `group` (pipeline parallel: the tensor x pipeline ranks of one data-parallel replica) replaces
// the tensor group; every stage contributes the layers it holds.
FullState gather_full_state(models::Model& model, Tensor m, Tensor v, Comm* group = nullptr);

// Elements of the full model's flat layout.
int64_t full_num_params(const config::ModelConfig& cfg);

}  // namespace primus::train
