// Moving one Hugging Face tensor in and out of our parameter layout (host fp32 memory): row ranges
// of fused parameters (QKV, gate_up), the V of Vp embedding rows, and GPT-2's Conv1D transpose.
#pragma once
#include <span>

#include "models/model.h"

namespace primus::models {

// dst (hf_shape) = the HfTensor's part of param (the whole parameter `info`, our layout).
void hf_tensor_gather(std::span<float> dst, const HfTensor& t, const ParamInfo& info, std::span<const float> param);
// The HfTensor's part of param (our layout) = src (hf_shape); other rows are left untouched.
void hf_tensor_scatter(std::span<float> param, const HfTensor& t, const ParamInfo& info, std::span<const float> src);

}  // namespace primus::models
