// Activation planning: collect every tensor a pass needs, then carve them all out of one backend
// allocation (64-byte aligned), so memory is known before the first step and allocated once.
#pragma once
#include <functional>
#include <vector>

#include "backend/backend.h"

namespace primus::models {

class ArenaPlan {
 public:
  // Where shared(target) names an earlier request, target views that request's memory instead of
  // its own (activation recompute: one buffer for what every block recomputes). Same size required.
  std::function<Tensor*(const Tensor*)> shared;

  // Reserves `shape` elements of `dtype` for *target (assigned by commit()).
  void add(Tensor* target, DType dtype, Shape shape) {
    if (Tensor* owner = shared ? shared(target) : nullptr) {
      for (const Request& r : requests_)
        if (r.target == owner) {
          PRIMUS_CHECK(r.shape.numel() == shape.numel() && r.dtype == dtype, "shared activation {} vs {}",
                       r.shape.str(), shape.str());
          requests_.push_back({target, dtype, shape, r.offset});
          return;
        }
    }
    bytes_ = (bytes_ + 63) / 64 * 64;
    requests_.push_back({target, dtype, shape, bytes_});
    bytes_ += static_cast<size_t>(shape.numel()) * dtype_size(dtype);
  }
  size_t bytes() const { return bytes_; }
  // One allocation for every request; the returned Buffer owns the memory the tensors view.
  Buffer commit(Backend& backend) {
    Buffer buffer = backend.alloc(bytes_ > 0 ? bytes_ : 64);
    for (const Request& r : requests_) *r.target = buffer.as(r.dtype, r.shape, r.offset);
    requests_.clear();
    return buffer;
  }

 private:
  struct Request {
    Tensor* target;
    DType dtype;
    Shape shape;
    size_t offset;
  };
  std::vector<Request> requests_;
  size_t bytes_ = 0;
};

}  // namespace primus::models
