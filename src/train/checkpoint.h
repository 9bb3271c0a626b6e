// Training checkpoints: checkpoints/step_<NNNNNNNN>/ holding model.safetensors + config.json
// (loadable by transformers), optimizer.safetensors (fp32 master params, AdamW m and v),
// trainer_state.json (step, update count, tokens, RNG and data-loader positions) and a copy of the
// tokenizer. A folder is written under a temporary name, every file fsync'ed, then renamed into
// place and the parent fsync'ed; `latest` is a symlink swapped atomically. A failed save leaves
// the previous checkpoints untouched. Older folders beyond keep_last are deleted after a save.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/model.h"
#include "train/checkpoint_shard.h"
#include "train/optimizer.h"

namespace primus::train {

struct TrainerState {
  int64_t step = 0;              // optimizer steps completed (skipped non-finite steps included)
  int64_t tokens_seen = 0;       // training tokens consumed on all ranks
  uint64_t rng_state = 0;        // the trainer's RNG
  nlohmann::json train_loader;   // TokenLoader::state() of the training split
  nlohmann::json extra;          // anything else worth recording (lr, loss, config name)
};

struct CheckpointSaveOptions {
  int64_t keep_last = 3;         // folders kept; 0 = keep all
  std::string tokenizer_path;    // copied in when it exists
  // Called after the files are written into the temporary folder, before it is published.
  // Tests throw from it to simulate a crash mid-save.
  std::function<void(const std::string& tmp_dir)> before_publish;
  // A tensor-parallel model's state gathered into the full layout (gather_full_state); null: the
  // model is whole and is written from its own buffers.
  const FullState* full_state = nullptr;
};

std::string checkpoint_dir_name(int64_t step);   // step_00000010
// Writes a checkpoint and returns its folder.
std::string save_checkpoint(const std::string& checkpoints_dir, models::Model& model, AdamW& optimizer,
                            const TrainerState& state, const CheckpointSaveOptions& options);
// Completed checkpoint folders, oldest first (temporary folders are ignored).
std::vector<std::string> list_checkpoints(const std::string& checkpoints_dir);
// The newest completed checkpoint, or "" when there is none.
std::string latest_checkpoint(const std::string& checkpoints_dir);
// Deletes the oldest folders beyond keep_last (and stale temporary folders).
void prune_checkpoints(const std::string& checkpoints_dir, int64_t keep_last);
// Restores weights, optimizer state and the trainer state from a checkpoint folder.
TrainerState load_checkpoint(const std::string& dir, models::Model& model, AdamW& optimizer);

}  // namespace primus::train
