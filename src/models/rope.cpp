// RoPE frequency and table construction (see rope.h).
#include "models/rope.h"

#include <cmath>
#include <numbers>

#include "core/error.h"

namespace primus::models {

std::vector<double> rope_inv_freq(const config::ModelConfig& cfg, int64_t HS) {
  PRIMUS_CHECK(HS > 0 && HS % 2 == 0, "RoPE needs an even head size, got {}", HS);
  std::vector<double> inv_freq(static_cast<size_t>(HS / 2));
  for (int64_t i = 0; i < HS / 2; ++i)
    inv_freq[i] = 1.0 / std::pow(cfg.rope_theta, static_cast<double>(2 * i) / static_cast<double>(HS));
  const config::RopeScalingConfig& rs = cfg.rope_scaling;
  if (rs.factor <= 0.0) return inv_freq;
  // Wavelengths longer than the original context are slowed by `factor`, shorter than
  // old_context / high_freq_factor are kept, the band between is interpolated smoothly.
  const double old_context = static_cast<double>(rs.original_max_position_embeddings);
  const double low_freq_wavelen = old_context / rs.low_freq_factor;
  const double high_freq_wavelen = old_context / rs.high_freq_factor;
  for (double& f : inv_freq) {
    const double wavelen = 2.0 * std::numbers::pi / f;
    if (wavelen < high_freq_wavelen) continue;
    if (wavelen > low_freq_wavelen) {
      f /= rs.factor;
      continue;
    }
    const double smooth = (old_context / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    f = (1.0 - smooth) * f / rs.factor + smooth * f;
  }
  return inv_freq;
}

RopeTables rope_tables(const config::ModelConfig& cfg, int64_t HS, int64_t T) {
  const std::vector<double> inv_freq = rope_inv_freq(cfg, HS);
  const int64_t half = HS / 2;
  RopeTables tables;
  tables.cos.resize(static_cast<size_t>(T * half));
  tables.sin.resize(static_cast<size_t>(T * half));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(t) * inv_freq[i];
      tables.cos[t * half + i] = static_cast<float>(std::cos(angle));
      tables.sin[t * half + i] = static_cast<float>(std::sin(angle));
    }
  }
  return tables;
}

}  // namespace primus::models
