// The model presets carry the published hyperparameters: each preset's parameter count, computed
// from its fields, equals the count its publisher reports (Hugging Face num_parameters), and the
// Llama 3 / Qwen specifics (RoPE base and scaling, norm epsilon, ties, QKV bias) are as released.
#include <gtest/gtest.h>

#include "config/loader.h"
#include "config_test_util.h"

namespace primus::config {
namespace {

using testing::ScratchDir;

ModelConfig load_preset(const std::string& name) {
  ScratchDir dir;
  std::string path = dir.write("exp.yaml", "model: {preset: " + name + "}\ndata: {mock: true}\n"
                                           "train: {micro_batch_size: 1, global_batch_size: 1, seq_len: 64, steps: 1}\n");
  return load_experiment(path).model;
}

// Parameters of the unpadded model, as Hugging Face counts them.
int64_t parameter_count(const ModelConfig& m) {
  const int64_t C = m.hidden_size, V = m.vocab_size, L = m.num_layers;
  const int64_t NKV = m.num_kv_heads > 0 ? m.num_kv_heads : m.num_attention_heads;
  const int64_t HS = C / m.num_attention_heads;
  const int64_t FF = m.ffn_hidden_size > 0 ? m.ffn_hidden_size : 4 * C;
  if (m.arch == "gpt2") {
    const int64_t block = 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + 2 * C + (C * FF + FF) + (FF * C + C);
    return V * C + m.max_position_embeddings * C + L * block + 2 * C + (m.tie_embeddings ? 0 : V * C);
  }
  const int64_t attention = 2 * C * C + 2 * C * NKV * HS + (m.qkv_bias ? C + 2 * NKV * HS : 0);
  const int64_t block = attention + 3 * C * FF + 2 * C;
  return V * C + L * block + C + (m.tie_embeddings ? 0 : V * C);
}

struct PublishedModel {
  const char* preset;
  int64_t parameters;
};

class Preset : public ::testing::TestWithParam<PublishedModel> {};

TEST_P(Preset, ParameterCountMatchesThePublishedModel) {
  ModelConfig m = load_preset(GetParam().preset);
  EXPECT_EQ(parameter_count(m), GetParam().parameters);
}

INSTANTIATE_TEST_SUITE_P(Config, Preset,
                         ::testing::Values(PublishedModel{"gpt2-124m", 124439808}, PublishedModel{"gpt2-350m", 354823168},
                                           PublishedModel{"gpt2-774m", 774030080}, PublishedModel{"gpt2-1.5b", 1557611200},
                                           PublishedModel{"llama3.2-1b", 1235814400},
                                           PublishedModel{"llama3.2-3b", 3212749824},
                                           PublishedModel{"llama3.1-8b", 8030261248},
                                           PublishedModel{"llama3.1-70b", 70553706496},
                                           PublishedModel{"qwen2.5-7b", 7615616512}),
                         [](const ::testing::TestParamInfo<PublishedModel>& info) {
                           std::string name = info.param.preset;
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

TEST(Presets, GptTwoFamilySharesVocabularyPositionsAndTies) {
  for (const char* name : {"gpt2-124m", "gpt2-350m", "gpt2-774m", "gpt2-1.5b"}) {
    SCOPED_TRACE(name);
    ModelConfig m = load_preset(name);
    EXPECT_EQ(m.arch, "gpt2");
    EXPECT_EQ(m.vocab_size, 50257);
    EXPECT_EQ(m.max_position_embeddings, 1024);
    EXPECT_TRUE(m.tie_embeddings);
    EXPECT_DOUBLE_EQ(m.norm_eps, 1e-5);
  }
}

TEST(Presets, LlamaThreeRopeScalingAsReleased) {
  for (const char* name : {"llama3.2-1b", "llama3.2-3b", "llama3.1-8b", "llama3.1-70b"}) {
    SCOPED_TRACE(name);
    ModelConfig m = load_preset(name);
    const bool is_3_2 = std::string(name).find("3.2") != std::string::npos;
    EXPECT_EQ(m.vocab_size, 128256);
    EXPECT_EQ(m.num_kv_heads, 8);
    EXPECT_DOUBLE_EQ(m.rope_theta, 500000.0);
    EXPECT_DOUBLE_EQ(m.norm_eps, 1e-5);
    EXPECT_DOUBLE_EQ(m.rope_scaling.factor, is_3_2 ? 32.0 : 8.0);
    EXPECT_DOUBLE_EQ(m.rope_scaling.low_freq_factor, 1.0);
    EXPECT_DOUBLE_EQ(m.rope_scaling.high_freq_factor, 4.0);
    EXPECT_EQ(m.rope_scaling.original_max_position_embeddings, 8192);
    EXPECT_EQ(m.max_position_embeddings, 131072);
    EXPECT_EQ(m.tie_embeddings, is_3_2);
  }
}

TEST(Presets, QwenHasQkvBiasAndItsOwnRope) {
  ModelConfig m = load_preset("qwen2.5-7b");
  EXPECT_TRUE(m.qkv_bias);
  EXPECT_EQ(m.vocab_size, 152064);
  EXPECT_DOUBLE_EQ(m.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(m.norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(m.rope_scaling.factor, 0.0);
  EXPECT_FALSE(m.tie_embeddings);
}

TEST(Presets, TinyModelsForTests) {
  ModelConfig gpt = load_preset("gpt2-tiny");
  EXPECT_EQ(gpt.num_layers, 2);
  EXPECT_EQ(gpt.hidden_size, 64);
  EXPECT_EQ(gpt.num_attention_heads, 4);
  EXPECT_GE(gpt.vocab_size, 256);
  EXPECT_LE(gpt.vocab_size, 512);
  EXPECT_EQ(gpt.max_position_embeddings, 64);
  ModelConfig llama = load_preset("llama-tiny");
  EXPECT_EQ(llama.arch, "llama");
  EXPECT_EQ(llama.num_layers, 2);
  EXPECT_EQ(llama.hidden_size, 64);
  EXPECT_EQ(llama.num_attention_heads, 4);
  EXPECT_EQ(llama.num_kv_heads, 2);
  EXPECT_EQ(llama.ffn_hidden_size, 128);
  EXPECT_FALSE(llama.tie_embeddings);
}

}  // namespace
}  // namespace primus::config
