// Activation planning: collect every tensor a pass needs, then carve them all out of one backend
// allocation (64-byte aligned), so memory is known before the first step and allocated once.
#pragma once
#include <vector>

#include "backend/backend.h"

namespace primus::models {

class ArenaPlan {
 public:
  // Reserves `shape` elements of `dtype` for *target (assigned by commit()).
  void add(Tensor* target, DType dtype, Shape shape) {
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
