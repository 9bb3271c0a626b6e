// Rotary position embedding tables (rotate-half convention, as Hugging Face Llama): for position t
// and frequency i in [0, HS/2), angle = t * inv_freq[i], inv_freq[i] = theta^(-2i/HS), optionally
// rescaled by Llama 3 frequency scaling (the formula of transformers' _compute_llama3_parameters).
// Computed in double, stored as fp32 (T,HS/2) row-major, the layout Backend::rope_forward takes.
#pragma once
#include <cstdint>
#include <vector>

#include "config/experiment.h"

namespace primus::models {

// inv_freq (HS/2) in double, with rope_scaling applied when rope_scaling.factor > 0.
std::vector<double> rope_inv_freq(const config::ModelConfig& cfg, int64_t HS);

struct RopeTables {
  std::vector<float> cos;  // (T,HS/2)
  std::vector<float> sin;  // (T,HS/2)
};
// Tables for positions [0, T).
RopeTables rope_tables(const config::ModelConfig& cfg, int64_t HS, int64_t T);

}  // namespace primus::models
