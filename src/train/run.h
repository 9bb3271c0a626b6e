// One training run from a loaded experiment: checks the data and tokenizer, prepares the run
// directory (refusing an existing run unless resuming or forcing), builds the model on the given
// backend, initializes it (seeded, --init-from weights, or the latest checkpoint on --resume),
// trains, and prints a summary. `primus train` is a thin layer over this.
#pragma once
#include <string>

#include "backend/backend.h"
#include "config/experiment.h"
#include "train/trainer.h"

namespace primus::train {

struct RunOptions {
  bool resume = false;      // continue from the latest checkpoint of the run (fresh start if none)
  bool force = false;       // delete an existing run first
  int dp_rank = 0;          // data-parallel rank of this process
  int dp_size = 1;          // data-parallel ranks
  GradSync* grad_sync = nullptr;
  int rank = -1;            // world rank (run directory, log file); -1: dp_rank
  models::ModelShard shard; // the tensor-parallel slice this process holds (data from dp_rank, like its peers)
  Comm* pipeline = nullptr;   // pipeline group (size > 1: this process runs one stage, see pipeline_runner.h)
  Comm* model_group = nullptr;  // tensor x pipeline ranks of this replica: checkpoints gather the model over it
};

// resolved_yaml: the config as written to <run>/config.yaml. Throws primus::Error.
TrainResult run_training(const config::ExperimentConfig& cfg, const std::string& resolved_yaml, Backend& backend,
                         const RunOptions& options);

}  // namespace primus::train
