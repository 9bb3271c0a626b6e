// GradSync implementations over dist::DataParallel and dist::ZeroOptimizer (see the header).
#include "train/data_parallel_sync.h"

#include <cmath>

namespace primus::train {

DataParallelSync::DataParallelSync(Comm& dp, Backend& backend, bool overlap, int64_t bucket_elems)
    : dp_(dp, bucket_elems), backend_(backend), overlap_(overlap), recordable_(overlap && dp.records_into_graphs()) {}

bool DataParallelSync::start_overlap(Tensor grads) {
  if (!overlap_) return false;
  dp_.begin_overlap(grads, backend_.native_stream());
  return true;
}

void DataParallelSync::average_grads(Tensor grads) {
  if (dp_.overlapping()) {
    dp_.finish_overlap();
  } else {
    dp_.all_reduce_grads(grads);
  }
}

std::vector<dist::FlatRange> grad_norm_ranges(const models::Model& model) {
  std::vector<dist::FlatRange> out;
  const int tied = model.tied_copy_index(), tp_rank = model.shard().tp_rank();
  for (int i = 0; i < static_cast<int>(model.params().size()); ++i) {
    const models::ParamInfo& p = model.params()[static_cast<size_t>(i)];
    if (i == tied || (!p.slice.split() && tp_rank != 0)) continue;
    const int64_t size = p.shape.numel();
    if (!out.empty() && out.back().offset + out.back().size == p.offset)
      out.back().size += size;
    else
      out.push_back(dist::FlatRange{p.offset, size});
  }
  return out;
}

ZeroSync::ZeroSync(Comm& dp, Backend& backend, std::vector<ParamSegment> segments)
    : dp_(dp), avg_(dp), backend_(backend), segments_(std::move(segments)) {}

void ZeroSync::set_model(const models::Model& model, std::span<const ParamSegment> decay_segments) {
  PRIMUS_CHECK(!zero_, "ZeroSync::set_model after the optimizer was planned");
  segments_.assign(decay_segments.begin(), decay_segments.end());
  norm_ranges_ = grad_norm_ranges(model);
}

dist::ZeroOptimizer& ZeroSync::zero(int64_t P) {
  if (!zero_) zero_ = std::make_unique<dist::ZeroOptimizer>(dp_, backend_, P, segments_, norm_ranges_);
  return *zero_;
}

}  // namespace primus::train
