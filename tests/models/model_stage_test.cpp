// Pipeline stages in one process: a 4-layer model split into two stages (blocks [0,2) with the
// embeddings, [2,4) with the head; a tied head keeps its own copy of the embedding), with the
// hidden states and their gradients carried between them by hand, gives the whole model's loss
// and gradients (by parameter name; the tied copies' gradients summed), and starts from the
// whole model's init. Interleaved chunks (blocks {0,2} and {1,3}) name the right blocks. The
// full-layout Hugging Face tensors equal a whole model's.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "models/model.h"
#include "runtime/backends.h"

namespace primus::models {
namespace {

config::ModelConfig tiny(bool llama) {
  config::ModelConfig c;
  c.arch = llama ? "llama" : "gpt2";
  c.num_layers = 4;
  c.hidden_size = 32;
  c.num_attention_heads = 4;
  c.num_kv_heads = llama ? 2 : 0;
  c.ffn_hidden_size = llama ? 48 : 0;
  c.vocab_size = 97;
  c.make_vocab_size_divisible_by = 16;
  c.max_position_embeddings = 32;
  c.tie_embeddings = !llama;
  c.qkv_bias = !llama;
  return c;
}

std::map<std::string, std::vector<float>> by_name(Model& m, bool grads) {
  std::map<std::string, std::vector<float>> out;
  for (int i = 0; i < static_cast<int>(m.params().size()); ++i) {
    Tensor t = grads ? m.grad(i) : m.param(i);
    out[m.params()[static_cast<size_t>(i)].name].assign(t.f32(), t.f32() + t.numel());
  }
  return out;
}

class ModelStage : public ::testing::TestWithParam<bool> {};

TEST_P(ModelStage, TwoStagesMatchTheWholeModel) {
  const bool llama = GetParam();
  const auto cfg = tiny(llama);
  auto be = runtime::make_backend("cpu", 1);
  const int64_t B = 2, T = 8, N = B * T;
  Model whole(cfg, *be, B, T);
  ModelShard s0, s1;
  s0.layer_begin = 0, s0.layer_end = 2;
  s1.layer_begin = 2, s1.layer_end = 4;
  Model first(cfg, *be, B, T, DType::kF32, s0), last(cfg, *be, B, T, DType::kF32, s1);
  for (Model* m : {&whole, &first, &last}) m->init_weights(7);
  const auto w0 = by_name(whole, false);
  for (Model* m : {&first, &last})
    for (const auto& [name, values] : by_name(*m, false)) EXPECT_EQ(values, w0.at(name)) << name;
  EXPECT_EQ(first.chunk_has_embedding(0), true);
  EXPECT_EQ(last.chunk_has_head(0), true);
  EXPECT_EQ(last.tied_copy_index() >= 0, !llama);
  EXPECT_EQ(by_name(first, false).count("h.2.attn.qkv.weight"), 0u);
  EXPECT_EQ(by_name(last, false).count("h.2.attn.qkv.weight"), 1u);
  Rng rng(3);
  std::vector<int32_t> in(N), tg(N);
  for (int64_t i = 0; i < N; ++i) in[i] = static_cast<int32_t>(rng.below(97)), tg[i] = static_cast<int32_t>(rng.below(97));
  for (Model* m : {&whole, &first, &last}) m->zero_grads();
  const float ref = whole.forward(in.data(), tg.data());
  whole.backward(0.5f);
  EXPECT_EQ(first.forward(in.data(), tg.data()), 0.0f);   // no head: no loss
  be->copy(last.stage_input(), first.stage_output());
  const float loss = last.forward(nullptr, tg.data());
  last.backward(0.5f);
  be->copy(first.stage_output_grad(), last.stage_input_grad());
  first.backward(0.5f);
  EXPECT_FLOAT_EQ(loss, ref);
  const auto gw = by_name(whole, true);
  auto g0 = by_name(first, true), g1 = by_name(last, true);
  for (const auto& [name, values] : gw) {
    std::vector<float> got(values.size(), 0.0f);
    for (auto* g : {&g0, &g1})
      if (g->count(name))
        for (size_t i = 0; i < got.size(); ++i) got[i] += g->at(name)[i];   // the tied copies' sum
    ASSERT_TRUE(g0.count(name) || g1.count(name)) << name << " is held by no stage";
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], values[i], 1e-6f) << name << " [" << i << "]";
  }
}

TEST_P(ModelStage, InterleavedChunksHoldEveryOtherBlock) {
  const auto cfg = tiny(GetParam());
  auto be = runtime::make_backend("cpu", 1);
  ModelShard s;
  s.layer_begin = 1, s.layer_end = 2, s.chunks = 2, s.chunk_stride = 2, s.activation_slots = 3;
  Model m(cfg, *be, 2, 8, DType::kF32, s);
  const auto names = by_name(m, false);
  for (const char* held : {"h.1.", "h.3."}) {
    bool found = false;
    for (const auto& [name, v] : names) found |= name.rfind(held, 0) == 0;
    EXPECT_TRUE(found) << held;
  }
  for (const auto& [name, v] : names) EXPECT_FALSE(name.rfind("h.0.", 0) == 0 || name.rfind("h.2.", 0) == 0) << name;
  EXPECT_FALSE(m.chunk_has_embedding(0));
  EXPECT_TRUE(m.chunk_has_head(1));
  ModelShard bad;
  bad.layer_begin = 3, bad.layer_end = 5;
  EXPECT_THROW(Model(cfg, *be, 2, 8, DType::kF32, bad), Error);
}

TEST_P(ModelStage, FullHuggingFaceTensorsMatchAWholeModel) {
  auto cfg = tiny(GetParam());
  auto be = runtime::make_backend("cpu", 1);
  for (bool qkv_bias : {false, true}) {
    cfg.qkv_bias = qkv_bias || !GetParam();
    Model whole(cfg, *be, 1, 4);
    const auto a = whole.hf_tensors(), b = hf_tensors_full(cfg);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].hf_name, b[i].hf_name);
      EXPECT_EQ(a[i].param_index, b[i].param_index) << a[i].hf_name;
      EXPECT_EQ(a[i].row_begin, b[i].row_begin) << a[i].hf_name;
      EXPECT_EQ(a[i].row_end, b[i].row_end) << a[i].hf_name;
      EXPECT_EQ(a[i].transpose, b[i].transpose) << a[i].hf_name;
      EXPECT_EQ(a[i].hf_shape, b[i].hf_shape) << a[i].hf_name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ModelStage, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Llama" : "Gpt2"; });

}  // namespace
}  // namespace primus::models
