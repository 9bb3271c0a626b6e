// The gradient-ready hook (Model::set_grad_ready_hook), which data parallelism starts bucket
// all-reduces from: every backward reports every gradient element exactly once, and a range is
// reported only when final (its values then equal those at the end of backward).
#include <gtest/gtest.h>

#include <vector>

#include "core/rng.h"
#include "models/model.h"
#include "runtime/backends.h"

namespace primus::models {
namespace {

config::ModelConfig tiny(bool llama) {
  config::ModelConfig m;
  m.arch = llama ? "llama" : "gpt2";
  m.num_layers = 3;
  m.hidden_size = 32;
  m.num_attention_heads = 4;
  m.num_kv_heads = llama ? 2 : 0;
  m.ffn_hidden_size = llama ? 64 : 0;
  m.vocab_size = 100;
  m.make_vocab_size_divisible_by = 64;
  m.max_position_embeddings = 16;
  m.tie_embeddings = !llama;   // both a tied and an untied head
  return m;
}

class GradReadyHook : public ::testing::TestWithParam<bool> {};

TEST_P(GradReadyHook, ReportsEveryGradientOnceWhenFinal) {
  constexpr int64_t B = 2, T = 8;
  auto backend = runtime::make_backend("cpu", 1);
  const auto cfg = tiny(GetParam());
  Model model(cfg, *backend, B, T);
  model.init_weights(3);
  const int64_t P = model.num_params();
  Tensor grads = model.grads_buffer();   // (P) fp32, host
  struct Report {
    int64_t offset, size;
    std::vector<float> values;   // the range's gradients when reported
  };
  std::vector<Report> reports;
  model.set_grad_ready_hook([&](int64_t offset, int64_t size) {
    ASSERT_GE(offset, 0);
    ASSERT_LE(offset + size, P);
    reports.push_back({offset, size, std::vector<float>(grads.f32() + offset, grads.f32() + offset + size)});
  });
  Rng rng(5);
  std::vector<int32_t> inputs(B * T), targets(B * T);   // (B,T)
  model.zero_grads();
  for (int micro = 0; micro < 2; ++micro) {   // accumulation: each backward reports everything again
    for (auto* v : {&inputs, &targets})
      for (auto& t : *v) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(cfg.vocab_size)));
    reports.clear();
    model.forward(inputs.data(), targets.data());
    model.backward(0.5f);
    std::vector<int> seen(static_cast<size_t>(P), 0);
    size_t changed_after = 0;
    for (const Report& r : reports) {
      for (int64_t i = 0; i < r.size; ++i) {
        ++seen[static_cast<size_t>(r.offset + i)];
        changed_after += r.values[static_cast<size_t>(i)] != grads.f32()[r.offset + i];
      }
    }
    int64_t missing = 0, repeated = 0;
    for (int c : seen) missing += c == 0, repeated += c > 1;
    EXPECT_EQ(missing, 0) << "micro-batch " << micro;
    EXPECT_EQ(repeated, 0) << "micro-batch " << micro;
    EXPECT_EQ(changed_after, 0u) << "a reported range changed later in the same backward";
    // One report per block, one for the final norm (and head), one for the embeddings, at least;
    // the blocks come from the last one down, so offsets start high.
    EXPECT_GE(reports.size(), static_cast<size_t>(cfg.num_layers + 2));
    EXPECT_GT(reports.front().offset, reports.back().offset);
  }
  model.set_grad_ready_hook({});
  reports.clear();
  model.forward(inputs.data(), targets.data());
  model.backward(1.0f);
  EXPECT_TRUE(reports.empty()) << "the hook was removed";
}

INSTANTIATE_TEST_SUITE_P(Models, GradReadyHook, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Llama" : "Gpt2"; });

}  // namespace
}  // namespace primus::models
