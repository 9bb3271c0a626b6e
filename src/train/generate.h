// Text generation from a checkpoint folder: the model shape from config.json (ours or
// transformers'), weights from model.safetensors, the tokenizer from tokenizer.json beside them
// (or a given path), then sampling (models/sampling.h) with the KV cache or, with no_cache, a full
// forward of the whole sequence per token (the two agree; greedy output is identical).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "models/model.h"
#include "models/sampling.h"

namespace primus::train {

struct GenerateRequest {
  std::string checkpoint;        // folder with config.json + model.safetensors
  std::string prompt;
  std::string tokenizer;         // "" = <checkpoint>/tokenizer.json
  int64_t max_new_tokens = 64;
  models::SamplingOptions sampling;
  uint64_t seed = 1234;
  bool no_cache = false;
};

// Builds the model of a checkpoint folder for batch 1 and sequence T, weights loaded.
std::unique_ptr<models::Model> load_model_for_inference(const std::string& dir, Backend& backend, int64_t T);
// The prompt followed by the generated text.
std::string generate_text(const GenerateRequest& request, Backend& backend);

}  // namespace primus::train
