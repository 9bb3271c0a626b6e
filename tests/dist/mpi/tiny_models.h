// The tiny decoder models of the multi-process tests: 64 wide, 4 attention heads, 64 positions,
// vocabulary padded to a multiple of 64. GPT-2 ties its embeddings; Llama has 2 KV heads (GQA) and
// an untied head. What a test varies (layers, vocabulary, Llama's FFN width, QKV bias) it passes.
#pragma once
#include <cstdint>

#include "config/experiment.h"

namespace primus::dist::testing {

struct TinyModel {
  bool llama = false;
  int64_t layers = 2;
  int64_t vocab = 512;        // 500: padded to 512, the last vocabulary shard holds padding rows
  int64_t llama_ffn = 128;    // GPT-2's is 4 x 64
  bool qkv_bias = false;      // Qwen-style bias on a Llama, or GPT-2's own
};

inline config::ModelConfig tiny_model(const TinyModel& t) {
  config::ModelConfig m;
  m.arch = t.llama ? "llama" : "gpt2";
  m.num_layers = t.layers;
  m.hidden_size = 64;
  m.num_attention_heads = 4;
  m.num_kv_heads = t.llama ? 2 : 0;
  m.ffn_hidden_size = t.llama ? t.llama_ffn : 256;
  m.vocab_size = t.vocab;
  m.make_vocab_size_divisible_by = 64;
  m.max_position_embeddings = 64;
  m.tie_embeddings = !t.llama;
  m.qkv_bias = t.qkv_bias;
  return m;
}

}  // namespace primus::dist::testing
