// HF tensor gather/scatter (see hf_layout.h).
#include "models/hf_layout.h"

#include <cstring>

#include "core/error.h"

namespace primus::models {

namespace {

int64_t row_size(const ParamInfo& info) { return info.shape.ndim == 1 ? 1 : info.shape.numel() / info.shape[0]; }

void check_sizes(const HfTensor& t, const ParamInfo& info, size_t param_size, size_t hf_size) {
  PRIMUS_CHECK(static_cast<int64_t>(param_size) == info.shape.numel(), "{}: parameter span {} != {}",
               info.name, param_size, info.shape.numel());
  PRIMUS_CHECK(static_cast<int64_t>(hf_size) == t.hf_shape.numel(), "{}: span {} != {}", t.hf_name, hf_size,
               t.hf_shape.numel());
  PRIMUS_CHECK(0 <= t.row_begin && t.row_begin <= t.row_end && t.row_end <= info.shape[0], "{}: rows", t.hf_name);
  PRIMUS_CHECK((t.row_end - t.row_begin) * row_size(info) == t.hf_shape.numel(), "{}: size", t.hf_name);
}

}  // namespace

void hf_tensor_gather(std::span<float> dst, const HfTensor& t, const ParamInfo& info, std::span<const float> param) {
  check_sizes(t, info, param.size(), dst.size());
  const int64_t K = row_size(info), R = t.row_end - t.row_begin;
  const float* src = param.data() + t.row_begin * K;  // (R,K)
  if (!t.transpose) {
    std::memcpy(dst.data(), src, static_cast<size_t>(R * K) * sizeof(float));
    return;
  }
  for (int64_t r = 0; r < R; ++r)
    for (int64_t k = 0; k < K; ++k) dst[k * R + r] = src[r * K + k];
}

void hf_tensor_scatter(std::span<float> param, const HfTensor& t, const ParamInfo& info, std::span<const float> src) {
  check_sizes(t, info, param.size(), src.size());
  const int64_t K = row_size(info), R = t.row_end - t.row_begin;
  float* dst = param.data() + t.row_begin * K;  // (R,K)
  if (!t.transpose) {
    std::memcpy(dst, src.data(), static_cast<size_t>(R * K) * sizeof(float));
    return;
  }
  for (int64_t r = 0; r < R; ++r)
    for (int64_t k = 0; k < K; ++k) dst[r * K + k] = src[k * R + r];
}

}  // namespace primus::models
