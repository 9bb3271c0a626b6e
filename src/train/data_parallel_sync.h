// The trainer's GradSync hook over src/dist: DataParallelSync (bucketed all-reduce average that
// overlaps the last micro-batch's backward) and ZeroSync (ZeRO-1: reduce-scattered gradients,
// AdamW on this rank's shard, parameters all-gathered; the trainer then holds no full moments).
// Under tensor / pipeline parallelism ZeroSync shards this rank's model shard over its data group.
// `primus train` picks one by parallel.zero; the distributed tests use them the same way.
#pragma once
#include <memory>
#include <span>
#include <vector>

#include "dist/data_parallel.h"
#include "train/trainer.h"

namespace primus::train {

class DataParallelSync final : public GradSync {
 public:
  // overlap = false: all-reduce every bucket after backward (the reference path).
  DataParallelSync(Comm& dp, Backend& backend, bool overlap = true,
                   int64_t bucket_elems = dist::DataParallel::kDefaultBucketElems);
  void average_grads(Tensor grads) override;
  double average(double value) override { return dp_.average(static_cast<float>(value)); }
  bool start_overlap(Tensor grads) override;
  void grads_ready(int64_t offset, int64_t size) override { dp_.grads_ready(offset, size); }
  // Overlapped on a communicator that records its started all-reduces into CUDA graphs (NCCL).
  bool recordable() const override { return recordable_; }

 private:
  dist::DataParallel dp_;
  Backend& backend_;
  bool overlap_, recordable_;
};

// The elements of model's flat gradient buffer that count in the full model's gradient norm on
// this rank: every parameter, except the tensor-replicated ones on tensor ranks other than 0 and a
// last pipeline stage's copy of the tied embedding (counted on the first stage). Summed over the
// tensor and pipeline ranks, they cover the full model once (as Model::grad_norm_squared_tp and
// PipelineRunner::grad_norm_squared count it). Adjacent parameters merge into one range.
std::vector<dist::FlatRange> grad_norm_ranges(const models::Model& model);

// The optimizer is planned on the first gradients (P is the model's buffer size), with the
// segments and norm ranges of set_model() (the trainer calls it) or else the constructor's
// segments and all of P.
class ZeroSync final : public GradSync {
 public:
  ZeroSync(Comm& dp, Backend& backend, std::vector<ParamSegment> segments = {});
  void set_model(const models::Model& model, std::span<const ParamSegment> decay_segments) override;
  void average_grads(Tensor grads) override { zero(grads.numel()).reduce_scatter_grads(grads); }
  double average(double value) override { return avg_.average(static_cast<float>(value)); }
  bool shards_optimizer() const override { return true; }
  double sharded_grad_norm_squared() override { return zero_->grad_norm_squared(); }
  void sharded_step(Tensor params, const AdamWArgs& args) override { zero(params.numel()).step(params, Tensor{}, args); }
  void gather_optimizer_state(Tensor m, Tensor v) override { zero(m.numel()).gather_state(m, v); }
  void load_optimizer_state(Tensor m, Tensor v) override { zero(m.numel()).load_state(m, v); }
  size_t optimizer_state_bytes() const override { return zero_ ? zero_->state_bytes() : 0; }

 private:
  dist::ZeroOptimizer& zero(int64_t P);
  Comm& dp_;
  dist::DataParallel avg_;
  Backend& backend_;
  std::vector<ParamSegment> segments_;
  std::vector<dist::FlatRange> norm_ranges_;   // empty: all of P
  std::unique_ptr<dist::ZeroOptimizer> zero_;
};

}  // namespace primus::train
