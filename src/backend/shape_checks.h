// Shape checks shared by every backend's op launchers: one place states each op's contract.
#pragma once
#include "core/tensor.h"

namespace primus {

inline void check_same_numel(const Tensor& a, const Tensor& b, const char* what) {
  PRIMUS_CHECK(a.numel() == b.numel(), "{}: {} vs {}", what, a.shape.str(), b.shape.str());
}

// Rows and columns of a tensor read as a matrix (all leading dims folded into rows).
inline int64_t rows_of(const Tensor& t) { return t.numel() / t.shape[-1]; }
inline int64_t cols_of(const Tensor& t) { return t.shape[-1]; }

}  // namespace primus
