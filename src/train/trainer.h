// The training loop over one model replica: gradient accumulation over micro-batches, an optional
// data-parallel gradient sync (GradSync, called once per step after accumulation and before
// clipping), non-finite detection (skip the update, say so, stop after
// train.max_nonfinite_steps in a row), AdamW with the LR schedule, periodic validation, a log
// line and a metrics.jsonl record per logged step, a progress bar on terminals, checkpoints every
// N steps and at the end, and a clean stop (checkpoint first) on SIGINT/SIGTERM.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/experiment.h"
#include "core/rng.h"
#include "data/loader.h"
#include "models/model.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace primus::train {

// Data-parallel hook; the default trainer runs one process and needs none.
class GradSync {
 public:
  virtual ~GradSync() = default;
  // Averages grads (P) over the data-parallel ranks, in place.
  virtual void average_grads(Tensor grads) = 0;
  // Averages one number (the step's loss) over the data-parallel ranks.
  virtual double average(double value) = 0;
  // Called once by the trainer's constructor: this rank's model (shard) and its AdamW's
  // weight-decay segments (what a sharded optimizer plans its shards with).
  virtual void set_model(const models::Model& model, std::span<const ParamSegment> decay_segments) {}
  // ZeRO-1: a sync that shards the optimizer state (average_grads then reduce-scatters) returns
  // true, and the trainer takes the gradient norm and the update from it instead of its AdamW.
  // sharded_grad_norm_squared() is this model shard's part of the squared norm, summed over the
  // data-parallel ranks (collective); the trainer sums it over the tensor and pipeline ranks.
  virtual bool shards_optimizer() const { return false; }
  virtual double sharded_grad_norm_squared() { return 0; }
  virtual void sharded_step(Tensor params, const AdamWArgs& args) {}
  // Collective: the full moments m, v (P) before a checkpoint; back into the shards after a resume.
  virtual void gather_optimizer_state(Tensor m, Tensor v) {}
  virtual void load_optimizer_state(Tensor m, Tensor v) {}
  // Overlap with the last micro-batch's backward: a sync that returns true receives grads_ready()
  // for every range of grads (P) as the model finalizes it (Model::set_grad_ready_hook); its
  // average_grads() then completes what was started.
  virtual bool start_overlap(Tensor grads) { return false; }
  virtual void grads_ready(int64_t offset, int64_t size) {}
  // True when everything from start_overlap() to average_grads() only queues device work (NCCL
  // buckets ordered by events, no host waits): the step graph (backend.cuda_graphs) then records
  // it with the micro-batch loop and calls average_grads() itself; the trainer does not.
  virtual bool recordable() const { return false; }
  // Bytes of optimizer state held by the sync (ZeRO-1: this rank's moment shards).
  virtual size_t optimizer_state_bytes() const { return 0; }
};

class StepGraph;
class PipelineRunner;

struct TrainerOptions {
  int dp_rank = 0;                 // this process's data-parallel rank
  int dp_size = 1;                 // data-parallel ranks
  int tp_rank = 0;                 // tensor-parallel rank: tensor rank 0 of data rank 0 logs and writes
  int pp_rank = 0;                 // pipeline stage: stage 0 of those logs and writes
  PipelineRunner* pipeline = nullptr;   // pipeline parallel: runs each step's micro-batches over the stages
  Comm* model_group = nullptr;     // tensor x pipeline ranks of this replica: checkpoints gather over it
  GradSync* grad_sync = nullptr;   // required when dp_size > 1
  std::string checkpoints_dir;     // empty: no checkpoints
  std::string metrics_path;        // empty: no metrics.jsonl
  // Test hook, called after each step's backward with the 0-based step and the gradients (P)
  // (already averaged over the data-parallel ranks when the step graph does the average).
  std::function<void(int64_t step, Tensor grads)> after_backward;
  // Test hook passed to every checkpoint save (see CheckpointSaveOptions::before_publish).
  std::function<void(const std::string& tmp_dir)> before_publish;
};

struct TrainResult {
  std::vector<double> losses;      // training loss of each step run by this call (NaN when skipped)
  int64_t final_step = 0;          // steps completed in total
  double last_valid_loss = -1;     // -1 when never evaluated
  double unigram_entropy = -1;     // of the validation targets, nats; -1 when never evaluated
  bool stopped_by_signal = false;
  std::string last_checkpoint;     // "" when none was written
};

class Trainer {
 public:
  // valid may be null (no evaluation). Throws usage_error for an impossible batch layout.
  Trainer(const config::ExperimentConfig& cfg, models::Model& model, data::TokenLoader& train,
          data::TokenLoader* valid, TrainerOptions options = {});
  // Weights only (e.g. a transformers folder); the step count stays at 0.
  void init_from(const std::string& dir);
  // Weights, optimizer, schedule position, data-loader position and RNG from a checkpoint folder.
  void resume(const std::string& checkpoint_dir);
  ~Trainer();
  TrainResult run();
  double evaluate();               // mean validation loss over logging.eval_steps micro-batches
  std::string save_checkpoint();   // rank 0 writes; returns the folder
  int64_t step() const { return state_.step; }
  int64_t grad_accum_steps() const { return accum_; }
  int64_t graph_replays() const;   // steps that replayed the recorded micro-batch loop (0: no graph)
  // Optimizer state (AdamW moments) held by this rank now: 8 bytes per parameter, or about 1/D of
  // that under ZeRO-1 (the full moments exist only while a checkpoint is saved or loaded).
  size_t optimizer_state_bytes() const;

 private:
  double train_step(double lr, bool* skipped, double* grad_norm);
  void log_step(double loss, double lr, double grad_norm, double seconds, bool skipped);

  const config::ExperimentConfig& cfg_;
  models::Model& model_;
  data::TokenLoader& train_;
  data::TokenLoader* valid_;
  TrainerOptions opts_;
  AdamW optimizer_;
  LrSchedule schedule_;
  Rng rng_;
  TrainerState state_;
  int64_t accum_ = 1;
  int64_t nonfinite_in_row_ = 0;
  double unigram_entropy_ = -1;
  std::vector<int32_t> inputs_, targets_;   // (B,T) host
  Buffer loss_mem_;
  Tensor loss_sum_;                         // (1) fp32 on the backend: the step's mean loss
  std::unique_ptr<StepGraph> graph_;        // the recorded micro-batch loop (CUDA graphs), or null
  struct Outputs;
  std::unique_ptr<Outputs> out_;
};

}  // namespace primus::train
