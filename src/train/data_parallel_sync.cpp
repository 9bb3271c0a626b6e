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

ZeroSync::ZeroSync(Comm& dp, Backend& backend, std::vector<ParamSegment> segments)
    : dp_(dp), avg_(dp), backend_(backend), segments_(std::move(segments)) {}

double ZeroSync::sharded_grad_norm() { return std::sqrt(static_cast<double>(zero_->grad_norm_squared())); }

dist::ZeroOptimizer& ZeroSync::zero(int64_t P) {
  if (!zero_) zero_ = std::make_unique<dist::ZeroOptimizer>(dp_, backend_, P, segments_);
  return *zero_;
}

}  // namespace primus::train
