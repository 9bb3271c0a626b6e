// Pipeline-parallel execution of one training step on one pipeline rank: runs the rank's plan
// (dist/pipeline_plan.h: 1F1B, or interleaved 1F1B with virtual_pipeline chunks per rank) over the
// pipeline group, moving activations and their gradients with Comm::send_recv (device tensors on
// GPUs). The loss is computed on the last stage and broadcast to every stage. A tied head on the
// last stage keeps its own copy of the embedding: sync_tied_grads() sums the two copies' gradients
// between the first and last stage (Megatron's embedding group), so both take the same update.
// grad_norm_squared() sums over the stages and counts the tied embedding once.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "backend/comm.h"
#include "dist/pipeline_plan.h"
#include "models/model.h"

namespace primus::train {

// The model shard of pipeline rank `stage` of `stages` with `chunks` chunks per rank (virtual
// stage c*stages + stage in chunk c) for `micro` micro-batches per step (activation slots).
models::ModelShard pipeline_shard(int64_t num_layers, int stages, int stage, int chunks, int micro);

class PipelineRunner {
 public:
  // Collective over `pipeline` (builds the embedding group). model: this rank's stage, built with
  // pipeline_shard(..., micro). Both must outlive the runner.
  PipelineRunner(models::Model& model, Comm& pipeline, int micro);
  ~PipelineRunner();
  // One step's forward and backward over `micro` micro-batches; next(inputs, targets) fills host
  // (B,T) int32 buffers, called `micro` times on every stage in order. Gradients of
  // loss * loss_scale accumulate into the model. Returns the mean loss (every stage).
  using NextBatch = std::function<void(int32_t* inputs, int32_t* targets)>;
  double run_step(const NextBatch& next, float loss_scale, int64_t ignore_index);
  // Forward only (evaluation) of one micro-batch through every stage; returns its loss (every stage).
  double forward_only(const int32_t* inputs, const int32_t* targets, int64_t ignore_index);
  // First and last stage: sum the tied embedding's gradients (collective over the pipeline group).
  void sync_tied_grads();
  // Squared L2 norm of every stage's gradients (collective over the pipeline group, and over the
  // tensor group for a vocabulary-parallel tied copy), the last stage's copy of a tied embedding
  // left out. `stage_squared`: this stage's squared norm over all it holds (tensor groups combined).
  double grad_norm_squared(double stage_squared);
  // Sum of x over the stages.
  double sum_over_stages(double x);

 private:
  double broadcast_from_last(double x);

  models::Model& model_;
  Comm& pipeline_;
  std::unique_ptr<Comm> embedding_;   // first and last stage (tied embeddings only)
  int micro_;
  dist::PipelinePlan plan_;
  Buffer recv_mem_;
  std::vector<Tensor> acts_in_;       // (chunks * slots) x (N,C): received inputs
  std::vector<Tensor> grads_in_;      // (chunks * slots) x (N,C): received d(output)
  Buffer norm_mem_;
  Tensor norm_;                       // (1) fp32
  std::vector<int32_t> inputs_, targets_;   // (micro, B, T) host
};

}  // namespace primus::train
