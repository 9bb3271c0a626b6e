// End-to-end benchmark: training steps of a config (mock data unless asked otherwise) on one
// device: tokens/s, model TFLOP/s, MFU (ANCHORS.md's formula, models::flops_per_token) and the
// backend's peak memory, optionally swept over micro-batch sizes. A step is what the trainer does
// on one rank: zero grads, forward and backward per micro-batch of the accumulation, gradient
// norm, AdamW update.
#pragma once
#include <cstdint>
#include <vector>

#include "bench/report.h"
#include "bench/svg_chart.h"
#include "config/experiment.h"

namespace primus::bench {

struct E2eOptions {
  std::vector<int64_t> micro_batches;   // empty: the config's train.micro_batch_size
  int warmup = 1, steps = 3;            // untimed and timed optimizer steps per point
  bool real_data = false;               // read the config's datasets instead of mock tokens
  int threads = 0;                      // CPU threads
};

Report e2e_report(const config::ExperimentConfig& cfg, const E2eOptions& options);
Chart e2e_chart(const Report& report);

}  // namespace primus::bench
