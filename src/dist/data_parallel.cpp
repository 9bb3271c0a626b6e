// Plain data parallel (bucketed all-reduce average) and the ZeRO-1 sharded AdamW step.
#include "dist/data_parallel.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <tuple>

namespace primus::dist {

void inject_fault_if_asked(const Comm& comm, int64_t step) {
  const char* v = std::getenv("PRIMUS_FAIL_AT");
  if (!v || !*v) return;
  int rank = -1;
  long long at = -1;
  if (std::sscanf(v, "%d:%lld", &rank, &at) != 2) {
    throw usage_error(fmt::format("PRIMUS_FAIL_AT={} is not <rank>:<step>", v));
  }
  if (rank == comm.world_rank() && at == step) {
    throw Error(fmt::format("injected failure at step {} (PRIMUS_FAIL_AT={})", step, v));
  }
}

DataParallel::DataParallel(Comm& dp, int64_t bucket_elems) : dp_(dp), bucket_elems_(bucket_elems) {
  PRIMUS_CHECK(bucket_elems_ > 0, "bucket of {} elements", bucket_elems_);
}

void DataParallel::all_reduce_grads(Tensor grads) {
  inject_fault_if_asked(dp_, ++syncs_);
  if (dp_.size() == 1) return;
  const int64_t P = grads.numel();
  for (int64_t end = P; end > 0; end -= bucket_elems_) {
    int64_t begin = std::max<int64_t>(0, end - bucket_elems_);
    dp_.all_reduce(grads.slice(begin, Shape{end - begin}), ReduceOp::kAvg);
  }
}

void DataParallel::begin_overlap(Tensor grads, void* stream) {
  PRIMUS_CHECK(!armed_, "begin_overlap twice without finish_overlap");
  armed_ = true;
  grads_ = grads;
  stream_ = stream;
  buckets_.clear();
  for (int64_t end = grads.numel(); end > 0; end -= bucket_elems_)
    buckets_.push_back(Bucket{std::max<int64_t>(0, end - bucket_elems_), end, 0, nullptr});
}

void DataParallel::start(Bucket& b) {
  if (b.request) return;
  b.request = dp_.all_reduce_start(grads_.slice(b.begin, Shape{b.end - b.begin}), ReduceOp::kAvg, stream_);
}

void DataParallel::grads_ready(int64_t offset, int64_t size) {
  PRIMUS_CHECK(armed_, "grads_ready outside begin_overlap/finish_overlap");
  PRIMUS_CHECK(offset >= 0 && size >= 0 && offset + size <= grads_.numel(), "gradient range [{}, {}) of {}",
               offset, offset + size, grads_.numel());
  if (dp_.size() == 1) return;
  // Buckets are ordered by descending offset: bucket k covers [P - (k+1)*E, P - k*E).
  const int64_t P = grads_.numel(), E = bucket_elems_;
  const auto first = static_cast<size_t>((P - (offset + size)) / E);
  for (size_t k = first; k < buckets_.size() && buckets_[k].end > offset; ++k) {
    Bucket& b = buckets_[k];
    const int64_t lo = std::max(b.begin, offset), hi = std::min(b.end, offset + size);
    if (lo >= hi) continue;
    b.ready += hi - lo;
    PRIMUS_CHECK(b.ready <= b.end - b.begin, "gradients of bucket [{}, {}) reported more than once", b.begin, b.end);
    if (b.ready == b.end - b.begin) start(b);
  }
  for (Bucket& b : buckets_)   // let MPI progress the ones in flight
    if (b.request) b.request->test();
}

void DataParallel::finish_overlap() {
  PRIMUS_CHECK(armed_, "finish_overlap without begin_overlap");
  inject_fault_if_asked(dp_, ++syncs_);
  if (dp_.size() > 1) {
    for (Bucket& b : buckets_) start(b);   // parts never reported: backward is over, so they are final
    for (Bucket& b : buckets_) b.request->wait();
  }
  buckets_.clear();
  armed_ = false;
  grads_ = Tensor{};
}

float DataParallel::average(float value) {
  if (dp_.size() == 1) return value;
  Tensor t{&value, DType::kF32, Shape{1}, DeviceKind::kCPU};
  dp_.all_reduce(t, ReduceOp::kAvg);
  return value;
}

ZeroOptimizer::ZeroOptimizer(Comm& dp, Backend& backend, int64_t num_params,
                             std::span<const ParamSegment> segments, std::span<const FlatRange> norm_ranges)
    : dp_(dp), backend_(backend), num_params_(num_params), segments_(segments.begin(), segments.end()) {
  const int64_t D = dp.size();
  shard_size_ = num_params / D;
  shard_begin_ = dp.rank() * shard_size_;
  tail_begin_ = D * shard_size_;
  tail_size_ = num_params - tail_begin_;
  shard_segments_ = clip_segments(shard_begin_, shard_size_);
  tail_segments_ = clip_segments(tail_begin_, tail_size_);
  const std::vector<FlatRange> all{FlatRange{0, num_params}};
  if (norm_ranges.empty()) norm_ranges = all;
  // Each norm range's part in the shard, then in the tail, as offsets into grads_ (S + tail).
  for (const auto& [begin, size, local] : {std::tuple{shard_begin_, shard_size_, int64_t{0}},
                                           std::tuple{tail_begin_, tail_size_, shard_size_}}) {
    for (const FlatRange& r : norm_ranges) {
      PRIMUS_CHECK(r.offset >= 0 && r.size >= 0 && r.offset + r.size <= num_params, "norm range [{}, {}) of {}",
                   r.offset, r.offset + r.size, num_params);
      const int64_t lo = std::max(r.offset, begin), hi = std::min(r.offset + r.size, begin + size);
      if (lo < hi) norm_pieces_.push_back(FlatRange{local + lo - begin, hi - lo});
    }
    if (local == 0) norm_shard_pieces_ = norm_pieces_.size();
  }
  const int64_t n = shard_size_ + tail_size_, k = std::max<int64_t>(1, static_cast<int64_t>(norm_pieces_.size()));
  state_mem_ = backend.alloc(static_cast<size_t>(3 * n + k) * sizeof(float));   // zero-filled
  m_ = state_mem_.as(DType::kF32, Shape{n});                          // (S + tail)
  v_ = state_mem_.as(DType::kF32, Shape{n}, n * sizeof(float));       // (S + tail)
  grads_ = state_mem_.as(DType::kF32, Shape{n}, 2 * n * sizeof(float));   // (S + tail)
  norm_ = state_mem_.as(DType::kF32, Shape{k}, 3 * n * sizeof(float));    // (norm pieces)
}

std::vector<ParamSegment> ZeroOptimizer::clip_segments(int64_t begin, int64_t size) const {
  std::vector<ParamSegment> out;
  for (const ParamSegment& s : segments_) {
    int64_t lo = std::max(s.offset, begin), hi = std::min(s.offset + s.size, begin + size);
    if (lo < hi) out.push_back(ParamSegment{lo - begin, hi - lo, s.weight_decay});
  }
  return out;
}

void ZeroOptimizer::reduce_scatter_grads(Tensor grads) {
  inject_fault_if_asked(dp_, ++syncs_);
  PRIMUS_CHECK(grads.numel() == num_params_ && grads.dtype == DType::kF32,
               "ZeRO-1 gradients: {} {} elements for {} parameters", dtype_name(grads.dtype), grads.numel(),
               num_params_);
  const int64_t D = dp_.size();
  Tensor shard = grads_.slice(0, Shape{shard_size_});
  if (shard_size_ > 0) {
    dp_.reduce_scatter(shard, grads.slice(0, Shape{D * shard_size_}), ReduceOp::kAvg);
  }
  if (tail_size_ > 0) {
    Tensor tail = grads_.slice(shard_size_, Shape{tail_size_});
    backend_.copy(tail, grads.slice(tail_begin_, Shape{tail_size_}));
    dp_.all_reduce(tail, ReduceOp::kAvg);
  }
}

float ZeroOptimizer::grad_norm_squared() {
  const auto k = static_cast<int64_t>(norm_pieces_.size());
  std::vector<float> sq(static_cast<size_t>(k));   // (norm pieces)
  for (int64_t i = 0; i < k; ++i) {
    const FlatRange& r = norm_pieces_[static_cast<size_t>(i)];
    backend_.grad_norm_squared(norm_.slice(i, Shape{1}), grads_.slice(r.offset, Shape{r.size}));
  }
  if (k > 0) backend_.copy_to_host(sq.data(), norm_.slice(0, Shape{k}));   // one read for all pieces
  float local = 0.0f, tail = 0.0f;
  for (size_t i = 0; i < sq.size(); ++i) (i < norm_shard_pieces_ ? local : tail) += sq[i];
  Tensor t{&local, DType::kF32, Shape{1}, DeviceKind::kCPU};
  dp_.all_reduce(t, ReduceOp::kSum);
  return local + tail;   // the tail is the same on every rank: counted once
}

void ZeroOptimizer::step(Tensor params, Tensor master, const AdamWArgs& args) {
  PRIMUS_CHECK(params.numel() == num_params_, "ZeRO-1 step: {} parameters, planned {}", params.numel(), num_params_);
  auto region = [&](int64_t begin, int64_t size, int64_t local, const std::vector<ParamSegment>& segs) {
    if (size == 0) return;
    Tensor p = params.slice(begin, Shape{size});
    Tensor mw = master.empty() ? Tensor{} : master.slice(begin, Shape{size});
    backend_.adamw_update(p, mw, m_.slice(local, Shape{size}), v_.slice(local, Shape{size}),
                          grads_.slice(local, Shape{size}), segs, args);
  };
  region(shard_begin_, shard_size_, 0, shard_segments_);
  region(tail_begin_, tail_size_, shard_size_, tail_segments_);
  if (shard_size_ > 0) {
    const int64_t D = dp_.size();
    dp_.all_gather(params.slice(0, Shape{D * shard_size_}), params.slice(shard_begin_, Shape{shard_size_}));
    if (!master.empty()) {
      dp_.all_gather(master.slice(0, Shape{D * shard_size_}), master.slice(shard_begin_, Shape{shard_size_}));
    }
  }
}

void ZeroOptimizer::gather_state(Tensor m, Tensor v) {
  PRIMUS_CHECK(m.numel() == num_params_ && v.numel() == num_params_, "gather_state sizes");
  const int64_t D = dp_.size();
  for (auto [full, mine] : {std::pair{m, m_}, std::pair{v, v_}}) {
    if (shard_size_ > 0) {
      dp_.all_gather(full.slice(0, Shape{D * shard_size_}), mine.slice(0, Shape{shard_size_}));
    }
    if (tail_size_ > 0) {
      backend_.copy(full.slice(tail_begin_, Shape{tail_size_}), mine.slice(shard_size_, Shape{tail_size_}));
    }
  }
}

void ZeroOptimizer::load_state(Tensor m, Tensor v) {
  PRIMUS_CHECK(m.numel() == num_params_ && v.numel() == num_params_, "load_state sizes");
  for (auto [full, mine] : {std::pair{m, m_}, std::pair{v, v_}}) {
    if (shard_size_ > 0) backend_.copy(mine.slice(0, Shape{shard_size_}), full.slice(shard_begin_, Shape{shard_size_}));
    if (tail_size_ > 0) {
      backend_.copy(mine.slice(shard_size_, Shape{tail_size_}), full.slice(tail_begin_, Shape{tail_size_}));
    }
  }
}

}  // namespace primus::dist
