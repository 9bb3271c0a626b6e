// Full-layout checkpoint state of a tensor-parallel model (see checkpoint_shard.h).
#include "train/checkpoint_shard.h"

#include <algorithm>

#include "models/shard.h"

namespace primus::train {

namespace {

std::vector<float> gather(models::Model& model, Tensor local, Comm* group) {
  std::vector<float> host(static_cast<size_t>(local.numel()));   // (P)
  model.backend().copy_to_host(host.data(), local);
  Comm* tp = model.shard().tensor;
  const bool replicated = !tp || tp->rank() == 0;   // replicated parameters counted once in the sum
  std::vector<float> full = models::full_from_local(model, host, replicated);
  // Pipeline: the last stage's own copy of a tied embedding is the first stage's; counted once.
  if (const int tied = model.tied_copy_index(); tied >= 0) {
    const std::string& name = model.params()[static_cast<size_t>(tied)].name;
    for (const models::ParamInfo& f : models::plan_params(model.config()))
      if (f.name == name) std::fill(full.begin() + f.offset, full.begin() + f.offset + f.shape.numel(), 0.0f);
  }
  if (!group) group = tp;
  if (group && group->size() > 1)
    group->all_reduce(Tensor{full.data(), DType::kF32, Shape{static_cast<int64_t>(full.size())}, DeviceKind::kCPU},
                      ReduceOp::kSum);
  return full;
}

}  // namespace

FullState gather_full_state(models::Model& model, Tensor m, Tensor v, Comm* group) {
  FullState s;
  s.params = gather(model, model.params_buffer(), group);
  s.m = gather(model, m, group);
  s.v = gather(model, v, group);
  return s;
}

int64_t full_num_params(const config::ModelConfig& cfg) {
  const models::ParamInfo& last = models::plan_params(cfg).back();
  return last.offset + last.shape.numel();
}

}  // namespace primus::train
