// Model weights in Hugging Face form: model.safetensors under transformers' names and layouts
// (GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM) plus config.json, and the way back,
// including folders written by transformers itself. Loading checks every shape before touching
// the model, so a mismatched checkpoint is a clear error that changes nothing.
#pragma once
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "config/experiment.h"
#include "models/model.h"

namespace primus::train {

// The model section described by a transformers config.json (gpt2, llama, qwen2, mistral).
// Throws primus::Error naming `source` for an unknown model_type.
config::ModelConfig model_config_from_hf(const nlohmann::json& hf, const std::string& source);

// Writes <dir>/model.safetensors (fp32) and <dir>/config.json (model.hf_config() with
// config_extra's keys merged in, e.g. the tokenizer's eos_token_id); dir must exist.
void save_hf_weights(const std::string& dir, models::Model& model, const nlohmann::json& config_extra = {});
// The same from the full model's parameters in plan_params(model.config()) layout (a
// tensor-parallel model's slices gathered, see checkpoint_shard.h); model gives names and config.
void save_hf_weights(const std::string& dir, models::Model& model, std::span<const float> full_params,
                     const nlohmann::json& config_extra);
// Loads <dir>/model.safetensors (F32/BF16/F16), or the shards listed by
// model.safetensors.index.json, into the model. Compares config.json (when present)
// and every tensor shape first; throws primus::Error listing the differences.
void load_hf_weights(const std::string& dir, models::Model& model);

}  // namespace primus::train
