// Token sampling and the generation loop (see sampling.h).
#include "models/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace primus::models {

int32_t argmax_token(std::span<const float> logits) {
  PRIMUS_CHECK(!logits.empty(), "no logits");
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

int32_t sample_token(std::span<const float> logits, const SamplingOptions& options, Rng& rng) {
  if (options.temperature <= 0.0f) return argmax_token(logits);
  const size_t V = logits.size();
  PRIMUS_CHECK(V > 0, "no logits");
  std::vector<int32_t> order(V);  // token ids, most likely first
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  size_t keep = V;
  if (options.top_k > 0) keep = std::min(keep, static_cast<size_t>(options.top_k));
  const double max_logit = logits[order[0]];
  std::vector<double> probs(keep);  // (keep) unnormalized, in `order`
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp((logits[order[i]] - max_logit) / options.temperature);
    total += probs[i];
  }
  if (options.top_p < 1.0f) {
    double cumulative = 0.0;
    size_t i = 0;
    while (i < keep) {
      cumulative += probs[i++] / total;
      if (cumulative >= options.top_p) break;
    }
    keep = i;
    total = std::accumulate(probs.begin(), probs.begin() + static_cast<std::ptrdiff_t>(keep), 0.0);
  }
  const double u = static_cast<double>(rng.uniform()) * total;
  double cumulative = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    cumulative += probs[i];
    if (u < cumulative) return order[i];
  }
  return order[keep - 1];
}

std::vector<int32_t> generate(InferenceSession& session, std::span<const int32_t> prompt, int64_t max_new_tokens,
                              const SamplingOptions& options, Rng& rng, int32_t stop_token) {
  if (prompt.empty()) throw usage_error("generation needs a prompt of at least one token");
  std::vector<int32_t> out;
  std::vector<float> logits = session.step(prompt);
  while (static_cast<int64_t>(out.size()) < max_new_tokens) {
    const int32_t next = sample_token(logits, options, rng);
    out.push_back(next);
    if (next == stop_token || session.position() >= session.max_tokens()) break;
    logits = session.step(std::span<const int32_t>(&next, 1));
  }
  return out;
}

}  // namespace primus::models
