// The run directory <workspace>/<exp_name>/: config.yaml (the resolved config), logs/ (one file per
// rank), checkpoints/, metrics.jsonl. Starting over an existing run is refused unless resuming or
// forcing. Only rank 0 checks and writes; other ranks get the same paths (and logs/ created), so
// the caller should synchronize ranks after rank 0 returns or throws.
#pragma once
#include <string>

#include "config/experiment.h"

namespace primus::config {

struct RunDir {
  std::string root;         // <workspace>/<exp_name>
  std::string logs;         // root/logs
  std::string checkpoints;  // root/checkpoints
  std::string metrics;      // root/metrics.jsonl
};

// The paths only; touches nothing.
RunDir run_dir_paths(const ExperimentConfig& cfg);
// The per-rank log file inside logs/: rank<N>.log.
std::string run_dir_log_file(const RunDir& dir, int rank);

// Creates the run directory (rank 0). An existing run (a config.yaml, metrics.jsonl or a non-empty
// checkpoints/) is refused with a primus::usage_error unless `resume` (keep everything, rewrite
// config.yaml) or `force` (delete the old config, logs, checkpoints and metrics first).
RunDir prepare_run_dir(const ExperimentConfig& cfg, const std::string& resolved_yaml, bool resume, bool force, int rank);

}  // namespace primus::config
