// Full tensor <-> tensor-parallel slice on the host (see shard.h).
#include "models/shard.h"

#include <algorithm>

#include "core/error.h"

namespace primus::models {

namespace {

// Calls move(full_offset, local_offset, count) for every contiguous run of the slice.
template <typename Move>
void for_each_run(const ParamInfo& info, Move move) {
  const int64_t full_n = info.full_shape.numel();
  if (!info.slice.split()) {
    move(int64_t{0}, int64_t{0}, full_n);
    return;
  }
  const Shape& f = info.full_shape;
  if (info.slice.dim == 0) {   // ranges of rows
    const int64_t row = f.ndim > 1 ? full_n / f[0] : 1;
    int64_t local = 0;
    for (const auto& [b, e] : info.slice.ranges) {
      move(b * row, local, (e - b) * row);
      local += (e - b) * row;
    }
    return;
  }
  PRIMUS_CHECK(info.slice.dim == 1 && f.ndim == 2, "{}: slice along dim {} of {}", info.name, info.slice.dim,
               f.str());
  const int64_t rows = f[0], cols = f[1], local_cols = info.shape[1];
  for (int64_t r = 0; r < rows; ++r) {
    int64_t local = r * local_cols;
    for (const auto& [b, e] : info.slice.ranges) {
      move(r * cols + b, local, e - b);
      local += e - b;
    }
  }
}

}  // namespace

void shard_extract(std::span<float> local, std::span<const float> full, const ParamInfo& info) {
  PRIMUS_CHECK(static_cast<int64_t>(local.size()) == info.shape.numel() &&
                   static_cast<int64_t>(full.size()) == info.full_shape.numel(),
               "{}: local {} / full {} elements for {} / {}", info.name, local.size(), full.size(), info.shape.str(),
               info.full_shape.str());
  for_each_run(info, [&](int64_t f, int64_t l, int64_t n) {
    std::copy_n(full.begin() + f, n, local.begin() + l);
  });
}

void shard_insert(std::span<float> full, std::span<const float> local, const ParamInfo& info) {
  PRIMUS_CHECK(static_cast<int64_t>(local.size()) == info.shape.numel() &&
                   static_cast<int64_t>(full.size()) == info.full_shape.numel(),
               "{}: local {} / full {} elements for {} / {}", info.name, local.size(), full.size(), info.shape.str(),
               info.full_shape.str());
  for_each_run(info, [&](int64_t f, int64_t l, int64_t n) {
    std::copy_n(local.begin() + l, n, full.begin() + f);
  });
}

}  // namespace primus::models
