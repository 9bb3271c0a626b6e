// KV-cache inference for one sequence: each step() runs only the new tokens through the model,
// attending to keys and values cached (on the host) from earlier steps. Norms, linears and
// activations run as Backend ops on rows of the new tokens; attention over the cache is a host loop.
// It computes in fp32 from the fp32 parameter buffer, whatever the model's compute dtype.
// The session reads the Model's parameters live, so it sees weights loaded after it was created.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "models/model.h"

namespace primus::models {

class InferenceSession {
 public:
  // max_T: the longest sequence this session holds (<= model.max_position_embeddings).
  InferenceSession(Model& model, int64_t max_T);
  // Appends new_tokens (one or more) and returns the logits (V) after the last of them.
  std::vector<float> step(std::span<const int32_t> new_tokens);
  int64_t position() const { return pos_; }  // tokens consumed so far
  int64_t max_tokens() const { return max_T_; }
  void reset() { pos_ = 0; }

 private:
  void attention_host(int64_t layer, int64_t n);

  Model& model_;
  ModelDims d_;
  int64_t max_T_, pos_ = 0;
  Buffer mem_;
  Tensor tokens_;                   // (1,max_T) int32
  Tensor x_, branch_;               // (max_T,C) residual stream, branch output
  Tensor norm_, mean_, rstd_;       // (max_T,C), (max_T), (max_T)
  Tensor qkv_, atty_;               // (max_T,QKV), (max_T,NH*HS)
  Tensor fch_, fch_act_;            // (max_T,FF or 2*FF), (max_T,FF)
  Tensor normf_, normf_mean_, normf_rstd_;  // (1,C), (1), (1)
  Tensor logits_;                   // (1,Vp)
  Tensor rope_cos_, rope_sin_;      // (max_T,HS/2), llama only
  std::vector<float> k_cache_, v_cache_;  // (L,max_T,NKV*HS)
  std::vector<float> host_qkv_;     // (max_T,QKV)
  std::vector<float> host_atty_;    // (max_T,NH*HS)
};

}  // namespace primus::models
