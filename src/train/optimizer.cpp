// AdamW with parameter groups and clipping (see optimizer.h).
#include "train/optimizer.h"

#include <cmath>

#include "core/error.h"

namespace primus::train {

std::vector<ParamSegment> plan_decay_segments(std::span<const models::ParamInfo> params,
                                              const config::OptimConfig& cfg) {
  std::vector<ParamSegment> out;
  for (const auto& p : params) {
    bool decay = p.decay;
    if (p.is_norm || p.is_bias) decay = cfg.decay_norms_and_biases;
    else if (p.is_embedding) decay = cfg.decay_embeddings;
    const float wd = decay ? static_cast<float>(cfg.weight_decay) : 0.0f;
    const int64_t size = p.shape.numel();
    if (!out.empty() && out.back().weight_decay == wd && out.back().offset + out.back().size == p.offset)
      out.back().size += size;
    else
      out.push_back(ParamSegment{p.offset, size, wd});
  }
  return out;
}

AdamW::AdamW(const config::OptimConfig& cfg, Backend& backend, std::span<const models::ParamInfo> params,
             int64_t num_params, bool hold_state)
    : cfg_(cfg), backend_(backend), segments_(plan_decay_segments(params, cfg)), num_params_(num_params),
      hold_state_(hold_state) {
  if (cfg.name != "adamw")
    throw usage_error(fmt::format("unknown optim.name '{}'", cfg.name), "the optimizer is adamw");
  // Padded rows (e.g. vocabulary padding) not covered by any parameter still get updated with no decay.
  std::vector<ParamSegment> full;
  int64_t at = 0;
  for (const auto& s : segments_) {
    if (s.offset > at) full.push_back(ParamSegment{at, s.offset - at, 0.0f});
    full.push_back(s);
    at = s.offset + s.size;
  }
  if (at < num_params) full.push_back(ParamSegment{at, num_params - at, 0.0f});
  segments_ = std::move(full);
  mem_ = backend.alloc(64);
  norm_ = mem_.as(DType::kF32, Shape{1});
  if (hold_state_) {
    hold_state_ = false;
    acquire_state();
    hold_state_ = true;
  }
}

void AdamW::acquire_state() {
  if (hold_state_ || state_mem_.bytes() != 0) return;
  const size_t bytes = static_cast<size_t>(num_params_) * 4;
  state_mem_ = backend_.alloc(2 * bytes);   // zero-filled
  m_ = state_mem_.as(DType::kF32, Shape{num_params_});
  v_ = state_mem_.as(DType::kF32, Shape{num_params_}, bytes);
}

void AdamW::release_state() {
  if (hold_state_) return;
  m_ = v_ = Tensor{};
  state_mem_ = Buffer{};
}

double AdamW::grad_norm(Tensor grads) {
  backend_.grad_norm_squared(norm_, grads);
  float sq = 0;
  backend_.copy_to_host(&sq, norm_);
  return std::sqrt(static_cast<double>(sq));
}

void AdamW::step(Tensor params, Tensor grads, double lr, double grad_norm, Tensor compute_params) {
  PRIMUS_CHECK(!m_.empty(), "AdamW::step without moments (constructed with hold_state = false)");
  if (compute_params.empty())
    backend_.adamw_update(params, Tensor{}, m_, v_, grads, segments_, next_args(lr, grad_norm));
  else   // params is the master; the compute copy is written in the same pass
    backend_.adamw_update(compute_params, params, m_, v_, grads, segments_, next_args(lr, grad_norm));
}

AdamWArgs AdamW::next_args(double lr, double grad_norm) {
  AdamWArgs args;
  args.lr = static_cast<float>(lr);
  args.beta1 = static_cast<float>(cfg_.beta1);
  args.beta2 = static_cast<float>(cfg_.beta2);
  args.eps = static_cast<float>(cfg_.eps);
  args.step = ++t_;
  if (cfg_.grad_clip_norm > 0 && grad_norm > cfg_.grad_clip_norm)
    args.grad_scale = static_cast<float>(cfg_.grad_clip_norm / (grad_norm + 1e-6));
  return args;
}

}  // namespace primus::train
