// `primus plot RUN_DIR`: a run's curves from its metrics.jsonl (train and validation loss, learning
// rate, tokens/s against the step) as one SVG with three charts.
#pragma once
#include <string>
#include <vector>

#include "bench/svg_chart.h"

namespace primus::bench {

// Reads metrics.jsonl records ({"step", "loss", "lr", "tokens_per_s"} per logged step and
// {"step", "valid_loss"} per validation). Lines that are not JSON objects are errors naming
// file:line; missing or null values are skipped. Throws primus::Error when there is no step.
std::vector<Chart> run_charts(const std::string& metrics_path);

// RUN_DIR/metrics.jsonl, or RUN_DIR itself when it is a file; throws primus::Error with a hint.
std::string run_metrics_path(const std::string& run_dir);

}  // namespace primus::bench
