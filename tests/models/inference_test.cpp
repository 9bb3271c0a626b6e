// KV-cache inference: greedy decoding with the cache equals greedy decoding by full forwards without
// it, token for token, with logits that agree; feeding the prompt at once or token by token agrees.
#include <gtest/gtest.h>

#include "fixture.h"
#include "models/inference.h"
#include "models/sampling.h"
#include "runtime/backends.h"

namespace primus::models {
namespace {

class InferenceGreedy : public ::testing::TestWithParam<std::string> {};

TEST_P(InferenceGreedy, CachedEqualsUncached) {
  testing::SafetensorsFile file(testing::fixture_path(GetParam()));
  const config::ModelConfig cfg = testing::model_config_from_json(nlohmann::json::parse(file.meta("model")));
  auto backend = runtime::make_backend("cpu");
  const int64_t T = cfg.max_position_embeddings;
  Model model(cfg, *backend, 1, T);
  testing::load_hf_weights(model, file);
  InferenceSession session(model, T);
  const std::vector<int32_t> prompt = {7, 3, 42};

  std::vector<int32_t> tokens = prompt;
  std::vector<float> cached = session.step(prompt);
  int64_t generated = 0;
  while (static_cast<int64_t>(tokens.size()) < T) {
    const std::vector<float> full = model.forward_last_logits(tokens);
    ASSERT_LT(testing::relative_error(cached, full), 1e-5) << "after " << tokens.size() << " tokens";
    const int32_t next = argmax_token(full);
    ASSERT_EQ(argmax_token(cached), next) << "after " << tokens.size() << " tokens";
    tokens.push_back(next);
    ++generated;
    if (static_cast<int64_t>(tokens.size()) < T) cached = session.step(std::span<const int32_t>(&next, 1));
  }
  EXPECT_EQ(generated, T - static_cast<int64_t>(prompt.size()));
  EXPECT_EQ(session.position(), T - 1);

  // The same sequence fed one token at a time ends in the same logits.
  InferenceSession one_by_one(model, T);
  std::vector<float> last;
  for (size_t i = 0; i + 1 < tokens.size(); ++i) last = one_by_one.step(std::span<const int32_t>(&tokens[i], 1));
  EXPECT_LT(testing::relative_error(last, cached), 1e-5);
  EXPECT_THROW(one_by_one.step(std::span<const int32_t>(tokens.data(), 2)), Error);  // past max_T
}

INSTANTIATE_TEST_SUITE_P(Fixtures, InferenceGreedy, ::testing::Values("gpt2_tiny", "llama_tiny", "qwen_tiny"));

TEST(InferenceSession, GenerateGreedyMatchesSteps) {
  testing::SafetensorsFile file(testing::fixture_path("llama_tiny"));
  const config::ModelConfig cfg = testing::model_config_from_json(nlohmann::json::parse(file.meta("model")));
  auto backend = runtime::make_backend("cpu");
  Model model(cfg, *backend, 1, 1);  // generation needs no training activations
  testing::load_hf_weights(model, file);
  InferenceSession a(model, 12), b(model, 12);
  Rng rng(1);
  const std::vector<int32_t> prompt = {1, 2};
  const std::vector<int32_t> out = generate(a, prompt, 100, SamplingOptions{.temperature = 0.0f}, rng);
  ASSERT_EQ(out.size(), 11u);  // 12 tokens fill the session; the last prediction needs no slot
  std::vector<float> logits = b.step(prompt);
  for (int32_t t : out) {
    EXPECT_EQ(argmax_token(logits), t);
    if (b.position() < b.max_tokens()) logits = b.step(std::span<const int32_t>(&t, 1));
  }
  // Stops right after the stop token.
  InferenceSession c(model, 12);
  const std::vector<int32_t> stopped = generate(c, prompt, 100, SamplingOptions{.temperature = 0.0f}, rng, out[2]);
  EXPECT_EQ(stopped.size(), 3u);
}

TEST(InferenceSession, RejectsBadInput) {
  config::ModelConfig cfg;
  cfg.num_layers = 1;
  cfg.hidden_size = 16;
  cfg.num_attention_heads = 2;
  cfg.vocab_size = 10;
  cfg.max_position_embeddings = 8;
  auto backend = runtime::make_backend("cpu");
  Model model(cfg, *backend, 1, 8);
  EXPECT_THROW(InferenceSession(model, 9), Error);
  InferenceSession s(model, 8);
  const std::vector<int32_t> bad = {10};
  EXPECT_THROW(s.step(bad), Error);
  EXPECT_THROW(s.step({}), Error);
}

}  // namespace
}  // namespace primus::models
