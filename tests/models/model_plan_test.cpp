// Model shapes without memory: parameter counts of published models, the MFU FLOP formula, the
// padded buffer size, shape validation that reports every problem, and Hugging Face names/layouts.
#include <gtest/gtest.h>

#include <set>

#include "models/hf_layout.h"
#include "models/model.h"
#include "runtime/backends.h"

namespace primus::models {
namespace {

config::ModelConfig gpt2_124m() {
  config::ModelConfig c;  // the defaults are GPT-2 124M
  c.arch = "gpt2";
  return c;
}

config::ModelConfig llama_1b() {
  config::ModelConfig c;
  c.arch = "llama";
  c.num_layers = 16;
  c.hidden_size = 2048;
  c.num_attention_heads = 32;
  c.num_kv_heads = 8;
  c.ffn_hidden_size = 8192;
  c.vocab_size = 128256;
  c.max_position_embeddings = 131072;
  c.rope_theta = 500000.0;
  c.rope_scaling = {.factor = 32.0, .low_freq_factor = 1.0, .high_freq_factor = 4.0,
                    .original_max_position_embeddings = 8192};
  c.tie_embeddings = true;
  return c;
}

int64_t plan_size(const config::ModelConfig& cfg) {
  const std::vector<ParamInfo> p = plan_params(cfg);
  return p.back().offset + p.back().shape.numel();
}

TEST(ModelPlan, PublishedParameterCounts) {
  EXPECT_EQ(count_params_hf(gpt2_124m()), 124439808);   // GPT-2 small as Hugging Face counts it
  EXPECT_EQ(count_params_hf(llama_1b()), 1235814400);   // Llama 3.2 1B
  config::ModelConfig llama_8b = llama_1b();
  llama_8b.num_layers = 32;
  llama_8b.hidden_size = 4096;
  llama_8b.ffn_hidden_size = 14336;
  llama_8b.tie_embeddings = false;
  EXPECT_EQ(count_params_hf(llama_8b), 8030261248);     // Llama 3.1 8B
}

TEST(ModelPlan, FlatBufferHoldsPaddedVocabulary) {
  const config::ModelConfig g = gpt2_124m();
  EXPECT_EQ(model_dims(g).Vp, 50304);
  EXPECT_EQ(plan_size(g), count_params_hf(g) + (50304 - 50257) * 768);
  config::ModelConfig untied = llama_1b();
  untied.tie_embeddings = false;
  EXPECT_EQ(plan_size(untied), count_params_hf(untied));  // 128256 is a multiple of 128
  // Offsets are contiguous and in order.
  int64_t next = 0;
  for (const ParamInfo& p : plan_params(g)) {
    EXPECT_EQ(p.offset, next) << p.name;
    next += p.shape.numel();
  }
}

TEST(ModelPlan, DecayMask) {
  for (const ParamInfo& p : plan_params(llama_1b())) {
    EXPECT_EQ(p.decay, p.shape.ndim == 2 && !p.is_embedding) << p.name;
    EXPECT_EQ(p.is_norm, p.name.find("norm") != std::string::npos) << p.name;
  }
  for (const ParamInfo& p : plan_params(gpt2_124m())) {
    EXPECT_EQ(p.decay, p.shape.ndim == 2 && p.name != "wte.weight" && p.name != "wpe.weight") << p.name;
    EXPECT_EQ(p.is_bias, p.name.ends_with(".bias")) << p.name;
  }
}

TEST(ModelPlan, FlopsPerTokenFormula) {
  // 6 * (124,439,808 - 1024*768 position embeddings) + 12 * L * NH * HS * T, T = 1024.
  EXPECT_DOUBLE_EQ(flops_per_token(gpt2_124m(), 1024), 6.0 * 123653376.0 + 12.0 * 12 * 12 * 64 * 1024);
  // Llama 3.2 1B at T = 2048 (no position embeddings).
  EXPECT_DOUBLE_EQ(flops_per_token(llama_1b(), 2048), 6.0 * 1235814400.0 + 12.0 * 16 * 32 * 64 * 2048);
}

TEST(ModelPlan, DefaultFeedForwardSizes) {
  EXPECT_EQ(model_dims(gpt2_124m()).FF, 3072);
  config::ModelConfig c = llama_1b();
  c.ffn_hidden_size = 0;
  c.hidden_size = 4096;
  EXPECT_EQ(model_dims(c).FF, 11008);  // Llama 2 7B: 2/3 * 4 * 4096 rounded up to 256
}

TEST(ModelPlan, InvalidShapeReportsEveryProblem) {
  config::ModelConfig c = gpt2_124m();
  c.arch = "bert";
  c.hidden_size = 100;          // not divisible by 12 heads
  c.vocab_size = 0;
  try {
    model_dims(c);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("arch 'bert'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not divisible"), std::string::npos) << msg;
    EXPECT_NE(msg.find("vocab_size"), std::string::npos) << msg;
  }
  config::ModelConfig gqa = gpt2_124m();
  gqa.num_kv_heads = 4;
  EXPECT_THROW(model_dims(gqa), Error);  // GPT-2 has no grouped-query attention
  config::ModelConfig heads = llama_1b();
  heads.num_kv_heads = 5;
  EXPECT_THROW(model_dims(heads), Error);
}

config::ModelConfig tiny(const std::string& arch) {
  config::ModelConfig c;
  c.arch = arch;
  c.num_layers = 2;
  c.hidden_size = 16;
  c.num_attention_heads = 4;
  c.num_kv_heads = arch == "llama" ? 2 : 0;
  c.ffn_hidden_size = arch == "llama" ? 24 : 0;
  c.vocab_size = 30;
  c.make_vocab_size_divisible_by = 16;
  c.max_position_embeddings = 8;
  c.tie_embeddings = arch == "gpt2";
  return c;
}

TEST(ModelPlan, SequenceLongerThanPositionsIsAnError) {
  auto backend = runtime::make_backend("cpu");
  EXPECT_THROW(Model(tiny("gpt2"), *backend, 1, 9), Error);
}

TEST(ModelPlan, ComputeDtypeTheBackendLacksIsAnError) {
  auto backend = runtime::make_backend("cpu");  // fp32 only
  try {
    Model model(tiny("gpt2"), *backend, 1, 8, DType::kBF16);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not support"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Model(tiny("gpt2"), *backend, 1, 8, DType::kF16), Error);
}

TEST(ModelPlan, HuggingFaceTensorsCoverEveryParameterOnce) {
  auto backend = runtime::make_backend("cpu");
  for (const std::string arch : {"gpt2", "llama"}) {
    Model model(tiny(arch), *backend, 1, 8);
    const ModelDims& d = model.dims();
    std::vector<int64_t> covered(model.params().size(), 0);
    std::set<std::string> names;
    for (const HfTensor& t : model.hf_tensors()) {
      EXPECT_TRUE(names.insert(t.hf_name).second) << t.hf_name;
      const ParamInfo& p = model.params()[t.param_index];
      const int64_t row = p.shape.ndim == 1 ? 1 : p.shape[1];
      EXPECT_EQ(t.hf_shape.numel(), (t.row_end - t.row_begin) * row) << t.hf_name;
      covered[t.param_index] += t.row_end - t.row_begin;
    }
    for (size_t i = 0; i < covered.size(); ++i) {
      const ParamInfo& p = model.params()[i];
      const bool vocab = p.name == "wte.weight" || p.name == "embed.weight" || p.name == "lm_head.weight";
      EXPECT_EQ(covered[i], vocab ? d.V : p.shape[0]) << p.name;
    }
    if (arch == "gpt2") {
      EXPECT_EQ(names.size(), 2u + 12u * 2 + 2u);
      EXPECT_TRUE(names.count("transformer.h.1.attn.c_attn.weight"));
      EXPECT_FALSE(names.count("lm_head.weight"));  // tied
      EXPECT_EQ(model.hf_config()["n_inner"], 64);
    } else {
      EXPECT_TRUE(names.count("model.layers.1.self_attn.k_proj.weight"));
      EXPECT_TRUE(names.count("lm_head.weight"));
      const nlohmann::json j = model.hf_config();
      EXPECT_EQ(j["model_type"], "llama");
      EXPECT_EQ(j["num_key_value_heads"], 2);
      EXPECT_EQ(j["architectures"][0], "LlamaForCausalLM");
    }
  }
  config::ModelConfig qwen = tiny("llama");
  qwen.qkv_bias = true;
  Model model(qwen, *backend, 1, 8);
  EXPECT_EQ(model.hf_config()["model_type"], "qwen2");
  int biases = 0;
  for (const HfTensor& t : model.hf_tensors()) biases += t.hf_name.ends_with("_proj.bias");
  EXPECT_EQ(biases, 2 * 3);
}

TEST(HfLayout, GatherScatterRoundTripWithTranspose) {
  const ParamInfo info{.name = "w", .shape = {6, 4}};
  std::vector<float> param(24);  // (6,4)
  for (size_t i = 0; i < param.size(); ++i) param[i] = static_cast<float>(i);
  const HfTensor t{"hf", 0, 2, 5, true, {4, 3}};  // rows 2..4, stored transposed
  std::vector<float> hf(12);
  hf_tensor_gather(hf, t, info, param);
  for (int k = 0; k < 4; ++k)
    for (int r = 0; r < 3; ++r) EXPECT_EQ(hf[k * 3 + r], param[(2 + r) * 4 + k]);
  std::vector<float> back(24, -1.0f);
  hf_tensor_scatter(back, t, info, hf);
  for (int i = 0; i < 24; ++i) EXPECT_EQ(back[i], i >= 8 && i < 20 ? param[i] : -1.0f) << i;
}

}  // namespace
}  // namespace primus::models
