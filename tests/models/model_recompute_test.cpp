// Activation recompute (backend.recompute: selective, full) changes what the model keeps, not what
// it computes: on the CPU backend the losses and every gradient of two accumulated micro-batches,
// then one SGD-like update and another forward, are bitwise identical to no recompute, and the
// planned activation memory shrinks. Bad mode names are usage errors.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "models/model.h"
#include "runtime/backends.h"

namespace primus::models {
namespace {

config::ModelConfig tiny(const std::string& arch) {
  config::ModelConfig c;
  c.arch = arch;
  c.num_layers = 3;
  c.hidden_size = 32;
  c.num_attention_heads = 4;
  c.num_kv_heads = arch == "llama" ? 2 : 0;
  c.ffn_hidden_size = arch == "llama" ? 48 : 0;
  c.vocab_size = 97;
  c.make_vocab_size_divisible_by = 16;
  c.max_position_embeddings = 32;
  c.tie_embeddings = arch == "gpt2";
  return c;
}

struct Result {
  std::vector<float> losses, grads;
  size_t activation_bytes = 0;
};

Result train_twice(const std::string& arch, Recompute mode) {
  auto backend = runtime::make_backend("cpu", 1);
  const int64_t B = 2, T = 16, N = B * T;
  Model model(tiny(arch), *backend, B, T, DType::kF32, {}, mode);
  model.init_weights(11);
  Rng rng(3);
  std::vector<int32_t> inputs(N), targets(N);  // (B,T)
  Result r;
  r.activation_bytes = model.activation_bytes();
  model.zero_grads();
  for (int micro = 0; micro < 2; ++micro) {
    for (int64_t i = 0; i < N; ++i) {
      inputs[i] = static_cast<int32_t>(rng.next_u64() % 97);
      targets[i] = i % 5 == 0 ? -100 : static_cast<int32_t>(rng.next_u64() % 97);
    }
    r.losses.push_back(model.forward(inputs.data(), targets.data()));
    model.backward(0.5f);
  }
  r.grads.resize(static_cast<size_t>(model.num_params()));
  backend->copy_to_host(r.grads.data(), model.grads_buffer());
  std::vector<float> params(r.grads.size());  // (P)
  backend->copy_to_host(params.data(), model.params_buffer());
  for (size_t i = 0; i < params.size(); ++i) params[i] -= 0.1f * r.grads[i];
  backend->copy_from_host(model.params_buffer(), params.data());
  r.losses.push_back(model.forward(inputs.data(), targets.data()));
  return r;
}

TEST(ModelRecompute, SelectiveAndFullGiveIdenticalLossesAndGradients) {
  for (const std::string arch : {"gpt2", "llama"}) {
    const Result none = train_twice(arch, Recompute::kNone);
    size_t previous = none.activation_bytes;
    for (Recompute mode : {Recompute::kSelective, Recompute::kFull}) {
      const Result r = train_twice(arch, mode);
      const char* name = mode == Recompute::kFull ? "full" : "selective";
      ASSERT_EQ(r.losses.size(), none.losses.size());
      for (size_t i = 0; i < r.losses.size(); ++i) EXPECT_EQ(r.losses[i], none.losses[i]) << arch << " " << name << " " << i;
      ASSERT_EQ(r.grads.size(), none.grads.size());
      size_t differing = 0;
      for (size_t i = 0; i < r.grads.size(); ++i) differing += std::memcmp(&r.grads[i], &none.grads[i], sizeof(float)) != 0;
      EXPECT_EQ(differing, 0u) << arch << " " << name;
      EXPECT_LT(r.activation_bytes, previous) << arch << " " << name;
      previous = r.activation_bytes;
    }
  }
}

TEST(ModelRecompute, UnknownModeIsAUsageError) {
  EXPECT_EQ(parse_recompute("selective"), Recompute::kSelective);
  try {
    parse_recompute("some");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_NE(std::string(e.what()).find("none, selective or full"), std::string::npos);
  }
}

}  // namespace
}  // namespace primus::models
