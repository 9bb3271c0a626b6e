// AdamW over the model's flat parameter buffer with decoupled weight decay per parameter group:
// norms and biases decay only with optim.decay_norms_and_biases, embeddings only with
// optim.decay_embeddings, everything else by ParamInfo::decay. Adjacent parameters with the same
// decay form one ParamSegment. Global-norm clipping is folded into AdamW's grad_scale.
// State: m, v (P) fp32 in backend memory and the 1-based update count (saved in checkpoints).
// Under ZeRO-1 the moments live sharded elsewhere: constructed with hold_state = false, AdamW keeps
// no m, v except between acquire_state() and release_state() (checkpoint gather and load).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "config/experiment.h"
#include "models/model.h"

namespace primus::train {

// The decay of each parameter as a list of merged segments (exposed for tests).
std::vector<ParamSegment> plan_decay_segments(std::span<const models::ParamInfo> params,
                                              const config::OptimConfig& cfg);

class AdamW {
 public:
  AdamW(const config::OptimConfig& cfg, Backend& backend, std::span<const models::ParamInfo> params,
        int64_t num_params, bool hold_state = true);
  // Global L2 norm of grads (P), computed on the backend.
  double grad_norm(Tensor grads);
  // One update with learning rate lr; clips to cfg.grad_clip_norm using the given norm. With
  // compute_params (P) (bf16 mixed precision), params is the fp32 master and compute_params
  // receives its cast in the same pass (then tell the model: Model::compute_params_written()).
  void step(Tensor params, Tensor grads, double lr, double grad_norm, Tensor compute_params = {});
  // The arguments of the next update, counted as taken (for an update run elsewhere: ZeRO-1).
  AdamWArgs next_args(double lr, double grad_norm);
  int64_t steps_taken() const { return t_; }
  void set_steps_taken(int64_t t) { t_ = t; }
  Tensor m() { return m_; }   // (P); empty while the state is not held
  Tensor v() { return v_; }   // (P)
  // Without hold_state: allocates zeroed full m, v until release_state() (no-op when held).
  void acquire_state();
  void release_state();
  size_t state_bytes() const { return state_mem_.bytes(); }   // m and v currently allocated
  std::span<const ParamSegment> segments() const { return segments_; }

 private:
  config::OptimConfig cfg_;
  Backend& backend_;
  std::vector<ParamSegment> segments_;
  int64_t num_params_;
  bool hold_state_;
  Buffer mem_, state_mem_;
  Tensor m_, v_;      // (P) fp32, in state_mem_
  Tensor norm_;       // (1) fp32
  int64_t t_ = 0;
};

}  // namespace primus::train
