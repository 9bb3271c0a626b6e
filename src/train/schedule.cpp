// Learning-rate schedules (see schedule.h).
#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace primus::train {

LrSchedule::LrSchedule(const config::ScheduleConfig& cfg, double peak_lr, int64_t total_steps)
    : cfg_(cfg), peak_(peak_lr), total_(cfg.lr_decay_steps > 0 ? cfg.lr_decay_steps : total_steps) {
  if (cfg.kind != "constant" && cfg.kind != "linear" && cfg.kind != "cosine" && cfg.kind != "wsd")
    throw usage_error(fmt::format("unknown schedule.kind '{}'", cfg.kind),
                      "use one of: constant, linear, cosine, wsd");
}

double LrSchedule::lr(int64_t step) const {
  const int64_t warmup = cfg_.lr_warmup_steps;
  if (step < warmup) return peak_ * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (cfg_.kind == "constant") return peak_;
  const double min_lr = peak_ * cfg_.lr_min_ratio;
  if (step >= total_) return min_lr;
  if (cfg_.kind == "wsd") {
    const auto decay = static_cast<int64_t>(std::ceil(cfg_.wsd_decay_ratio * static_cast<double>(total_)));
    const int64_t start = std::max(warmup, total_ - decay);
    if (step < start) return peak_;
    const double ratio = static_cast<double>(step - start) / static_cast<double>(std::max<int64_t>(1, total_ - start));
    return peak_ + ratio * (min_lr - peak_);
  }
  const double ratio = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total_ - warmup));
  if (cfg_.kind == "linear") return peak_ + ratio * (min_lr - peak_);
  const double coeff = 0.5 * (1.0 + std::cos(M_PI * ratio));   // cosine: 1 -> 0
  return min_lr + coeff * (peak_ - min_lr);
}

}  // namespace primus::train
