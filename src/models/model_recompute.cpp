// Activation recompute (see Recompute in model.h). Blocks share one copy of what they recompute:
// the ArenaPlan gives every later block's recomputed tensors the memory of the first block's
// (sizes follow plan_activations, whatever they are). backward_block first rebuilds them from
// what was kept, with the same ops and inputs as the forward, so on a deterministic backend the
// losses and gradients are identical to Recompute::kNone. The norms' statistics are rewritten
// with the values they already hold.
#include <fmt/format.h>

#include "core/error.h"
#include "models/model.h"

namespace primus::models {

Recompute parse_recompute(const std::string& name) {
  if (name == "none") return Recompute::kNone;
  if (name == "selective") return Recompute::kSelective;
  if (name == "full") return Recompute::kFull;
  throw usage_error(fmt::format("backend.recompute must be none, selective or full, not '{}'", name));
}

std::function<Tensor*(const Tensor*)> Model::recompute_sharing() {
  if (recompute_ == Recompute::kNone) return {};
  // Tensor (and sequence) parallel: what is recomputed is this rank's own rows or columns (the norm
  // of its sequence chunk, the activation of its FFN columns); the backward gathers rows again.
  using Member = Tensor LayerActs::*;
  static constexpr Member kSelective[] = {&LayerActs::norm1, &LayerActs::norm2, &LayerActs::fch_act};
  static constexpr Member kFull[] = {&LayerActs::norm1, &LayerActs::norm1_mean, &LayerActs::norm1_rstd,
                                     &LayerActs::qkv,   &LayerActs::atty,       &LayerActs::lse,
                                     &LayerActs::res1,  &LayerActs::norm2,      &LayerActs::norm2_mean,
                                     &LayerActs::norm2_rstd, &LayerActs::fch,   &LayerActs::fch_act};
  const bool full = recompute_ == Recompute::kFull;
  return [this, full](const Tensor* t) -> Tensor* {
    if (slots_.empty() || slots_.front().acts.empty()) return nullptr;   // planned before any block
    LayerActs& owner = slots_.front().acts.front();   // planned first: its tensors are the shared ones
    for (Slot& sl : slots_)
      for (LayerActs& a : sl.acts) {
        if (&a == &owner) continue;
        for (Member m : full ? std::span<const Member>(kFull) : std::span<const Member>(kSelective))
          if (t == &(a.*m)) return &(owner.*m);
      }
    return nullptr;
  };
}

void Model::recompute_block(int64_t l, Tensor x) {
  if (recompute_ == Recompute::kNone) return;
  if (recompute_ == Recompute::kFull) {
    forward_block(l, x);
    return;
  }
  const LayerParams& lp = layer_params_[l];
  LayerActs& a = acts_[l];
  const float eps = static_cast<float>(cfg_.norm_eps);
  if (dims_.llama) {
    backend_.rmsnorm_forward(a.norm1, a.norm1_rstd, x, p(lp.norm1_w), eps);
    backend_.rmsnorm_forward(a.norm2, a.norm2_rstd, a.res1, p(lp.norm2_w), eps);
    backend_.swiglu_forward(a.fch_act, a.fch);
  } else {
    backend_.layernorm_forward(a.norm1, a.norm1_mean, a.norm1_rstd, x, p(lp.norm1_w), p(lp.norm1_b), eps);
    backend_.layernorm_forward(a.norm2, a.norm2_mean, a.norm2_rstd, a.res1, p(lp.norm2_w), p(lp.norm2_b), eps);
    backend_.gelu_forward(a.fch_act, a.fch);
  }
}

}  // namespace primus::models
