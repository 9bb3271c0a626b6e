// Data parallelism over a Comm: gradient averaging in buckets (plain DP) and the ZeRO-1 optimizer
// step (reduce-scatter gradients, AdamW on this rank's shard with shard-local optimizer state,
// all-gather parameters). Plain DP can overlap the backward pass: begin_overlap() before the last
// micro-batch's backward, grads_ready() from the model's gradient-ready hook (each bucket's
// all-reduce starts as soon as all of it is final), finish_overlap() before the optimizer. The
// ZeRO-1 step runs after backward.
// Test hook: PRIMUS_FAIL_AT="<world rank>:<step>" makes that rank throw primus::Error on its
// <step>-th gradient synchronization (1-based), to exercise failure handling.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "dist/comm.h"

namespace primus::dist {

// Throws primus::Error when PRIMUS_FAIL_AT names this world rank and `step` (see above).
void inject_fault_if_asked(const Comm& comm, int64_t step);

class DataParallel {
 public:
  static constexpr int64_t kDefaultBucketElems = 8 << 20;   // 32 MiB of fp32 per all-reduce
  explicit DataParallel(Comm& dp, int64_t bucket_elems = kDefaultBucketElems);
  // grads (P): averaged over the group in place, bucket by bucket from the end of the buffer (the
  // order in which backward finishes the layers).
  void all_reduce_grads(Tensor grads);
  // Overlapped all_reduce_grads, with the same buckets and the same result. grads (P) is armed;
  // `stream` is the backend's native_stream() (null on the host). Each grads_ready(offset, size)
  // marks part of grads final; a bucket whose elements are all final starts its all-reduce (every
  // rank must report the same ranges in the same order). finish_overlap() starts any bucket not
  // started yet and waits for all of them (on a device: orders `stream` after them).
  void begin_overlap(Tensor grads, void* stream = nullptr);
  void grads_ready(int64_t offset, int64_t size);
  void finish_overlap();
  bool overlapping() const { return armed_; }
  // The mean of a per-rank scalar (the micro-batch losses) over the group.
  float average(float value);

 private:
  struct Bucket {
    int64_t begin = 0, end = 0;   // [begin, end) of grads
    int64_t ready = 0;            // elements reported final
    std::unique_ptr<CommRequest> request;
  };
  void start(Bucket& b);

  Comm& dp_;
  int64_t bucket_elems_;
  int64_t syncs_ = 0;
  bool armed_ = false;
  Tensor grads_;                  // (P) while armed
  void* stream_ = nullptr;
  std::vector<Bucket> buckets_;   // from the end of the buffer
};

// Elements [offset, offset + size) of a flat buffer.
struct FlatRange {
  int64_t offset = 0;
  int64_t size = 0;
};

// ZeRO-1. The flat buffer (P) is cut into D equal shards of S = floor(P/D) elements (rank r owns
// [r*S, (r+1)*S)) plus a tail of P - D*S < D elements that every rank updates identically. Under
// tensor or pipeline parallelism the buffer is this rank's model shard and `dp` its data group.
class ZeroOptimizer {
 public:
  // segments: weight-decay segments over the whole flat buffer (offsets in [0, P)). norm_ranges:
  // the elements that count in the gradient norm (ascending, disjoint; empty: all of [0, P)), e.g.
  // without the tensor-replicated parameters on tensor ranks other than 0.
  ZeroOptimizer(Comm& dp, Backend& backend, int64_t num_params, std::span<const ParamSegment> segments,
                std::span<const FlatRange> norm_ranges = {});
  int64_t shard_begin() const { return shard_begin_; }
  int64_t shard_size() const { return shard_size_; }
  int64_t tail_begin() const { return tail_begin_; }
  // grads (P): the group's average of this rank's shard (and the tail) into the local shard buffer.
  void reduce_scatter_grads(Tensor grads);
  // Squared L2 norm of the averaged gradients in norm_ranges, summed over the data group
  // (collective), for clipping; under tensor / pipeline parallelism the caller sums it over those
  // groups too.
  float grad_norm_squared();
  // AdamW on the shard and tail of params (P) (and master (P) fp32 when not empty), with moments
  // held here; then every rank's shard is all-gathered so params is whole again on every rank.
  void step(Tensor params, Tensor master, const AdamWArgs& args);
  // m, v (P) fp32: the full optimizer moments gathered from every shard (collective), for
  // checkpoints that do not depend on the layout; load_state takes them back.
  void gather_state(Tensor m, Tensor v);
  void load_state(Tensor m, Tensor v);
  // Bytes of optimizer moments held here: m and v of the shard and tail.
  size_t state_bytes() const { return 2 * static_cast<size_t>(shard_size_ + tail_size_) * sizeof(float); }

 private:
  std::vector<ParamSegment> clip_segments(int64_t begin, int64_t size) const;

  Comm& dp_;
  Backend& backend_;
  int64_t num_params_, shard_begin_, shard_size_, tail_begin_, tail_size_;
  std::vector<ParamSegment> segments_, shard_segments_, tail_segments_;
  std::vector<FlatRange> norm_pieces_;   // norm_ranges within grads_: the shard's, then the tail's
  size_t norm_shard_pieces_ = 0;         // how many of norm_pieces_ lie in the shard
  Buffer state_mem_;                 // m, v, grads for shard + tail, and the norm scalars
  Tensor m_, v_, grads_;             // (S + tail) fp32
  Tensor norm_;                      // (norm pieces) fp32: squared norm of each
  int64_t syncs_ = 0;
};

}  // namespace primus::dist
