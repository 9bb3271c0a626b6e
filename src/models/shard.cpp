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

namespace {

// The full plan's parameter of each of the model's parameters (matched by name).
std::vector<ParamInfo> full_infos_of(const Model& model) {
  const std::vector<ParamInfo> full = plan_params(model.config());
  std::vector<ParamInfo> out;
  for (const ParamInfo& info : model.params()) {
    auto it = std::find_if(full.begin(), full.end(), [&](const ParamInfo& f) { return f.name == info.name; });
    PRIMUS_CHECK(it != full.end(), "{} is not a parameter of the full model", info.name);
    out.push_back(*it);
  }
  return out;
}

}  // namespace

std::vector<float> full_from_local(const Model& model, std::span<const float> local, bool replicated) {
  const std::vector<ParamInfo> full_infos = full_infos_of(model);
  const ParamInfo& last = plan_params(model.config()).back();
  std::vector<float> full(static_cast<size_t>(last.offset + last.shape.numel()), 0.0f);   // (P full)
  const auto infos = model.params();
  for (size_t i = 0; i < infos.size(); ++i) {
    if (!infos[i].slice.split() && !replicated) continue;
    const ParamInfo& f = full_infos[i];
    shard_insert(std::span<float>(full).subspan(f.offset, f.shape.numel()),
                 local.subspan(infos[i].offset, infos[i].shape.numel()), infos[i]);
  }
  return full;
}

std::vector<float> local_from_full(const Model& model, std::span<const float> full) {
  const std::vector<ParamInfo> full_infos = full_infos_of(model);
  std::vector<float> local(static_cast<size_t>(model.num_params()));   // (P)
  const auto infos = model.params();
  for (size_t i = 0; i < infos.size(); ++i) {
    const ParamInfo& f = full_infos[i];
    shard_extract(std::span<float>(local).subspan(infos[i].offset, infos[i].shape.numel()),
                  full.subspan(f.offset, f.shape.numel()), infos[i]);
  }
  return local;
}

}  // namespace primus::models
