// Learning-rate schedules: linear warmup from 0 to the peak, then constant, linear decay, cosine
// decay, or warmup-stable-decay (wsd: flat at the peak, then a linear decay over the last
// wsd_decay_ratio of the steps). Decays end at lr * lr_min_ratio and stay there.
#pragma once
#include <cstdint>

#include "config/experiment.h"

namespace primus::train {

class LrSchedule {
 public:
  // total_steps: train.steps (the decay horizon unless lr_decay_steps is set). Throws usage_error
  // for an unknown kind.
  LrSchedule(const config::ScheduleConfig& cfg, double peak_lr, int64_t total_steps);
  // The learning rate of 0-based step `step`.
  double lr(int64_t step) const;

 private:
  config::ScheduleConfig cfg_;
  double peak_;
  int64_t total_;
};

}  // namespace primus::train
