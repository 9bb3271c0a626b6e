// The GEMMs of one training step of a model, for `primus benchmark gemm --model`: QKV, attention
// output, MLP up (fused gate|up for Llama) and down per layer, the LM head once; each as forward
// (out = inp @ W^T, "nt"), input gradient ("nn") and weight gradient ("tn"). Tensor parallelism
// shards QKV, MLP up and the head by output columns and attention output and MLP down by input
// columns (Megatron's column/row split).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "bench/gemm.h"
#include "config/experiment.h"

namespace primus::bench {

struct ModelGemm {
  std::string name;        // "qkv", "attn_out", "mlp_up", "mlp_down", "lm_head"
  std::string pass;        // "fwd", "dgrad", "wgrad"
  GemmCase shape;
  int64_t per_step = 0;    // calls of this GEMM in one micro-batch step (L for layers, 1 for the head)
  bool per_layer = true;   // false for the head
};

// A model config from a preset name ("gpt2-124m", found in configs/models/) or an experiment or
// experiment file path; seq_len is the T checked against the preset's max_position_embeddings.
// Throws primus::usage_error when neither exists.
config::ModelConfig model_config_resolve(const std::string& name_or_path, int64_t seq_len);

// Throws primus::usage_error when B, T or tensor are not positive or tensor does not divide the
// sharded dimensions.
std::vector<ModelGemm> model_gemms(const config::ModelConfig& model, int64_t B, int64_t T, int64_t tensor, DType dtype);

}  // namespace primus::bench
