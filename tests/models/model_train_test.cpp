// Training behaviour of whole models on the CPU backend: a tiny model overfits one batch, gradients
// accumulate with loss_scale, ignored targets contribute nothing, and seeded initialization is
// deterministic with the GPT-2 scaled residual projections and zero padded vocabulary rows.
#include <gtest/gtest.h>

#include <cmath>

#include "core/rng.h"
#include "models/model.h"
#include "runtime/backends.h"

namespace primus::models {
namespace {

config::ModelConfig tiny(const std::string& arch) {
  config::ModelConfig c;
  c.arch = arch;
  c.num_layers = 2;
  c.hidden_size = 32;
  c.num_attention_heads = 4;
  c.num_kv_heads = arch == "llama" ? 2 : 0;
  c.ffn_hidden_size = arch == "llama" ? 64 : 0;
  c.vocab_size = 50;
  c.make_vocab_size_divisible_by = 16;
  c.max_position_embeddings = 16;
  c.tie_embeddings = arch == "gpt2";
  return c;
}

std::vector<int32_t> random_tokens(int64_t n, int64_t V, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int32_t& t : out) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(V)));
  return out;
}

std::vector<float> to_host(Backend& be, Tensor t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  be.copy_to_host(out.data(), t);
  return out;
}

class ModelTraining : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelTraining, OverfitsOneBatch) {
  auto backend = runtime::make_backend("cpu");
  const int64_t B = 2, T = 16;
  Model model(tiny(GetParam()), *backend, B, T);
  model.init_weights(7);
  const std::vector<int32_t> inputs = random_tokens(B * T, 50, 1), targets = random_tokens(B * T, 50, 2);
  const int64_t P = model.num_params();
  Buffer state = backend->alloc(static_cast<size_t>(2 * P) * sizeof(float));
  Tensor m = state.as(DType::kF32, {P}), v = state.as(DType::kF32, {P}, P * sizeof(float));  // (P) each
  const std::vector<ParamSegment> all = {{0, P, 0.0f}};
  float first = 0.0f, loss = 0.0f;
  for (int64_t step = 1; step <= 150; ++step) {
    model.zero_grads();
    loss = model.forward(inputs.data(), targets.data());
    if (step == 1) first = loss;
    model.backward();
    backend->adamw_update(model.params_buffer(), Tensor{}, m, v, model.grads_buffer(), all,
                          AdamWArgs{.lr = 1e-2f, .step = step});
  }
  EXPECT_NEAR(first, std::log(50.0f), 0.2f);  // small init: near-uniform predictions
  EXPECT_LT(loss, 0.05f) << "from " << first;
}

TEST_P(ModelTraining, GradientsAccumulateWithLossScale) {
  auto backend = runtime::make_backend("cpu");
  const int64_t B = 2, T = 8;
  Model model(tiny(GetParam()), *backend, B, T);
  model.init_weights(3);
  const std::vector<int32_t> inputs = random_tokens(B * T, 50, 4), targets = random_tokens(B * T, 50, 5);
  model.zero_grads();
  model.forward(inputs.data(), targets.data());
  model.backward();
  const std::vector<float> once = to_host(*backend, model.grads_buffer());
  model.zero_grads();
  for (int i = 0; i < 2; ++i) {
    model.forward(inputs.data(), targets.data());
    model.backward(0.5f);
  }
  const std::vector<float> twice = to_host(*backend, model.grads_buffer());
  double norm = 0.0;
  for (size_t i = 0; i < once.size(); ++i) {
    EXPECT_NEAR(twice[i], once[i], 1e-6 + 1e-5 * std::abs(once[i])) << i;
    norm += double(once[i]) * once[i];
  }
  EXPECT_GT(norm, 0.0);
}

TEST_P(ModelTraining, IgnoredTargetsContributeNothing) {
  auto backend = runtime::make_backend("cpu");
  const int64_t B = 1, T = 8;
  Model model(tiny(GetParam()), *backend, B, T);
  model.init_weights(9);
  const std::vector<int32_t> inputs = random_tokens(T, 50, 6);
  std::vector<int32_t> targets = random_tokens(T, 50, 7);
  const float full = model.forward(inputs.data(), targets.data());
  // The mean over the first half only: ignoring the second half changes the loss accordingly.
  double first_half = 0.0;
  std::vector<int32_t> one(T, -100);
  for (int64_t t = 0; t < T / 2; ++t) {
    one[t] = targets[t];
    first_half += model.forward(inputs.data(), one.data());
    one[t] = -100;
  }
  std::vector<int32_t> half = targets;
  for (int64_t t = T / 2; t < T; ++t) half[t] = -100;
  EXPECT_NEAR(model.forward(inputs.data(), half.data()), first_half / (T / 2), 1e-5);
  EXPECT_NE(full, model.forward(inputs.data(), half.data()));
  // All ignored: zero loss and zero gradients.
  model.zero_grads();
  EXPECT_EQ(model.forward(inputs.data(), std::vector<int32_t>(T, -100).data()), 0.0f);
  model.backward();
  for (float g : to_host(*backend, model.grads_buffer())) ASSERT_EQ(g, 0.0f);
}

TEST_P(ModelTraining, OutOfVocabularyTokenIsAnError) {
  auto backend = runtime::make_backend("cpu");
  Model model(tiny(GetParam()), *backend, 1, 4);
  const std::vector<int32_t> bad = {1, 2, 50, 3}, good = {1, 2, 3, 4};
  EXPECT_THROW(model.forward(bad.data(), nullptr), Error);
  EXPECT_THROW(model.forward(good.data(), bad.data()), Error);
}

INSTANTIATE_TEST_SUITE_P(Archs, ModelTraining, ::testing::Values("gpt2", "llama"));

TEST(ModelInit, SeededScaledAndPadded) {
  auto backend = runtime::make_backend("cpu");
  config::ModelConfig cfg = tiny("gpt2");
  cfg.hidden_size = 64;
  Model a(cfg, *backend, 1, 4), b(cfg, *backend, 1, 4);
  a.init_weights(1);
  b.init_weights(1);
  const std::vector<float> pa = to_host(*backend, a.params_buffer()), pb = to_host(*backend, b.params_buffer());
  EXPECT_EQ(pa, pb);
  b.init_weights(2);
  EXPECT_NE(pa, to_host(*backend, b.params_buffer()));
  const ModelDims& d = a.dims();
  auto stddev = [&](const ParamInfo& p) {
    double s = 0.0;
    for (int64_t i = 0; i < p.shape.numel(); ++i) s += double(pa[p.offset + i]) * pa[p.offset + i];
    return std::sqrt(s / static_cast<double>(p.shape.numel()));
  };
  for (const ParamInfo& p : a.params()) {
    if (p.is_norm && !p.is_bias) {
      for (int64_t i = 0; i < p.shape.numel(); ++i) ASSERT_EQ(pa[p.offset + i], 1.0f) << p.name;
    } else if (p.is_bias) {
      for (int64_t i = 0; i < p.shape.numel(); ++i) ASSERT_EQ(pa[p.offset + i], 0.0f) << p.name;
    } else if (p.name.ends_with("proj.weight")) {
      EXPECT_NEAR(stddev(p), 0.02 / std::sqrt(2.0 * d.L), 0.001) << p.name;
    } else if (p.name != "wte.weight") {
      EXPECT_NEAR(stddev(p), 0.02, 0.002) << p.name;
    }
  }
  const ParamInfo& wte = a.params()[0];
  ASSERT_EQ(wte.name, "wte.weight");
  for (int64_t i = d.V * d.C; i < d.Vp * d.C; ++i) ASSERT_EQ(pa[wte.offset + i], 0.0f);
  EXPECT_NE(pa[wte.offset + d.V * d.C - 1], 0.0f);
}

}  // namespace
}  // namespace primus::models
