// The micro-batch loop of a training step (zero the gradients; per micro-batch: upload tokens,
// forward with the loss kept on the device, backward) recorded once as a backend graph (CUDA
// graph) and replayed every step. Tokens are read by the loader into pinned host buffers whose
// addresses the graph records. The first step runs eagerly (it sizes the backend's workspaces),
// the second records and replays. The optimizer stays outside (its learning rate and clipping
// scale change every step). A step whose micro-batches have another count of non-ignored targets
// than the recorded step (the gradient scale is a recorded constant) runs eagerly instead.
// Data parallel: given a GradSync whose overlap can be recorded (GradSync::recordable(), the
// NCCL all-reduce buckets), the last backward reports its gradients to it and its average_grads()
// runs at the end of the loop, so the graph holds the bucket all-reduces too; the trainer then
// leaves the average to this class. Every rank must replay or run eagerly alike (NCCL: whether a
// collective is captured is a collective property), so the ranks agree on each step's choice.
// Which layouts record (make_step_graph): one process; plain data parallelism over NCCL, bucket
// all-reduces included; ZeRO-1, whose reduce-scatter, norm and all-gather then run eagerly after
// the replayed loop (they wait on the host). Not tensor or pipeline parallelism, whose collectives
// sit inside the forward and backward and wait on the host.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "config/experiment.h"
#include "data/loader.h"
#include "models/model.h"

namespace primus::train {

class GradSync;

class StepGraph {
 public:
  // record = false: every step runs eagerly (same buffers, same ops; no host synchronisation either).
  // sync (may be null): the data-parallel gradient average, run inside the loop (see above).
  StepGraph(models::Model& model, int64_t accum, int64_t ignore_index, bool record = true,
            GradSync* sync = nullptr);
  // Runs the step's micro-batches from loader; loss_sum (1) fp32 receives the mean loss (written).
  // With a sync, the gradients are averaged over the data-parallel ranks on return (the loss is not).
  void run(data::TokenLoader& loader, Tensor loss_sum);
  bool recording() const { return record_; }
  bool averages_grads() const { return sync_ != nullptr; }
  int64_t replays() const { return replays_; }     // steps that replayed the recorded graph
  int64_t eager_steps() const { return eager_; }   // steps run eagerly (the warm-up one included)

 private:
  void run_ops(Tensor loss_sum);   // the recorded sequence
  void record(Tensor loss_sum);
  bool every_rank(bool yes);       // yes on every data-parallel rank (collective with a sync)

  models::Model& model_;
  Backend& backend_;
  GradSync* sync_;
  int64_t accum_, ignore_index_, BT_;
  Buffer host_mem_;                       // pinned: inputs then targets of every micro-batch
  std::vector<int32_t*> inputs_, targets_;   // (accum) pointers to (B,T) int32
  std::vector<int64_t> counts_, recorded_counts_;
  Tensor recorded_loss_;
  bool record_ = true, recorded_ = false;
  int64_t replays_ = 0, eager_ = 0;
};

// The trainer's step graph for this layout, or null (backend.cuda_graphs off, no graphs on this
// backend, tensor or pipeline parallel, or a data-parallel sync that overlaps backward but cannot be
// recorded). `pipeline`: a pipeline schedule runs the steps. `log`: say once which it is.
std::unique_ptr<StepGraph> make_step_graph(const config::ExperimentConfig& cfg, models::Model& model, int64_t accum,
                                           GradSync* sync, bool pipeline, bool log);

}  // namespace primus::train
