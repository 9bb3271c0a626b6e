// Choosing the next token from logits (greedy, temperature, top-k, top-p) and a generation loop
// over an InferenceSession. Sampling draws from core's Rng, so a seed reproduces a sample.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/rng.h"
#include "models/inference.h"

namespace primus::models {

struct SamplingOptions {
  float temperature = 1.0f;  // softmax temperature; <= 0 means greedy (argmax)
  int64_t top_k = 0;         // keep the k most likely tokens; 0 = all
  float top_p = 1.0f;        // keep the smallest set of tokens whose probability reaches top_p; 1 = all
};

// The index of the largest logit (the first one on ties).
int32_t argmax_token(std::span<const float> logits);
// A token drawn from softmax(logits / temperature) restricted by top_k and top_p.
int32_t sample_token(std::span<const float> logits, const SamplingOptions& options, Rng& rng);

// Feeds the prompt, then samples up to max_new_tokens tokens, stopping after stop_token (when >= 0)
// or when the session is full. Returns the new tokens only.
std::vector<int32_t> generate(InferenceSession& session, std::span<const int32_t> prompt, int64_t max_new_tokens,
                              const SamplingOptions& options, Rng& rng, int32_t stop_token = -1);

}  // namespace primus::models
