// The memory projection against what the CPU backend really allocates for a training step of tiny
// models, and its response to the parallel layout, ZeRO-1 and recompute.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "models/model.h"
#include "preflight/memory_projection.h"
#include "runtime/backends.h"
#include "train/optimizer.h"

namespace primus::preflight {
namespace {

config::ExperimentConfig tiny(const std::string& arch) {
  config::ExperimentConfig cfg;
  cfg.model.arch = arch;
  cfg.model.num_layers = 3;
  cfg.model.hidden_size = 64;
  cfg.model.num_attention_heads = 4;
  cfg.model.num_kv_heads = arch == "llama" ? 2 : 0;
  cfg.model.ffn_hidden_size = arch == "llama" ? 160 : 0;
  cfg.model.vocab_size = 300;
  cfg.model.make_vocab_size_divisible_by = 64;
  cfg.model.max_position_embeddings = 64;
  cfg.model.tie_embeddings = arch == "gpt2";
  cfg.train.micro_batch_size = 2;
  cfg.train.seq_len = 32;
  cfg.train.global_batch_size = 2;
  return cfg;
}

// Peak bytes the CPU backend allocated over one forward, backward and AdamW step.
size_t measured_peak(const config::ExperimentConfig& cfg) {
  auto backend = runtime::make_backend("cpu", 1);
  models::Model model(cfg.model, *backend, cfg.train.micro_batch_size, cfg.train.seq_len);
  model.init_weights(7);
  train::AdamW opt(cfg.optim, *backend, model.params(), model.num_params());
  const int64_t n = cfg.train.micro_batch_size * cfg.train.seq_len;
  std::vector<int32_t> inputs(static_cast<size_t>(n)), targets(static_cast<size_t>(n));  // (B,T)
  Rng rng(3);
  for (int64_t i = 0; i < n; ++i) {
    inputs[static_cast<size_t>(i)] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(cfg.model.vocab_size)));
    targets[static_cast<size_t>(i)] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(cfg.model.vocab_size)));
  }
  model.zero_grads();
  float loss = model.forward(inputs.data(), targets.data());
  EXPECT_TRUE(loss > 0.0f);
  model.backward();
  opt.step(model.params_buffer(), model.grads_buffer(), 1e-3, opt.grad_norm(model.grads_buffer()));
  return backend->peak_memory_bytes();
}

class ProjectionVsMeasured : public ::testing::TestWithParam<std::string> {};

TEST_P(ProjectionVsMeasured, WithinTenPercentOfTheCpuPeak) {
  for (int64_t T : {16, 64}) {
    config::ExperimentConfig cfg = tiny(GetParam());
    cfg.train.seq_len = T;
    const size_t measured = measured_peak(cfg);
    const MemoryProjection p = memory_project(cfg);
    const double ratio = static_cast<double>(p.total_bytes()) / static_cast<double>(measured);
    RecordProperty(fmt::format("ratio_T{}", T), fmt::format("{:.4f}", ratio));
    EXPECT_GT(ratio, 0.9) << "T=" << T << " projected " << p.total_bytes() << " measured " << measured;
    EXPECT_LT(ratio, 1.1) << "T=" << T << " projected " << p.total_bytes() << " measured " << measured;
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, ProjectionVsMeasured, ::testing::Values("gpt2", "llama"));

TEST(MemoryProjection, CountsTheWholeModel) {
  config::ExperimentConfig cfg = tiny("gpt2");
  const MemoryProjection p = memory_project(cfg);
  int64_t total = 0;
  for (const auto& info : models::plan_params(cfg.model)) total += info.shape.numel();
  EXPECT_EQ(p.params_total, total);
  EXPECT_EQ(p.params_rank, total);
  EXPECT_EQ(p.weights_bytes, static_cast<size_t>(4 * total));
  EXPECT_EQ(p.optimizer_bytes, static_cast<size_t>(8 * total));
  EXPECT_EQ(p.checkpoint_bytes, static_cast<size_t>(12 * total));
}

TEST(MemoryProjection, Bf16AddsComputeCopiesAndHalvesActivations) {
  config::ExperimentConfig cfg = tiny("gpt2");
  const MemoryProjection fp32 = memory_project(cfg);
  cfg.precision.compute = "bf16";
  const MemoryProjection bf16 = memory_project(cfg);
  const size_t P = static_cast<size_t>(bf16.params_total);
  EXPECT_EQ(bf16.weights_bytes, 6 * P);                          // fp32 master + bf16 copy
  EXPECT_EQ(bf16.grads_bytes, 4 * P + 4 * 320);                  // fp32 gradients + one fp32 logits row (Vp)
  EXPECT_LT(bf16.activation_bytes, fp32.activation_bytes * 6 / 10);
  EXPECT_GT(bf16.activation_bytes, fp32.activation_bytes * 4 / 10);
}

TEST(MemoryProjection, LayoutZeroAndRecomputeShrinkTheRank) {
  config::ExperimentConfig cfg = tiny("llama");
  cfg.train.global_batch_size = 16;
  const MemoryProjection base = memory_project(cfg, 1);
  cfg.parallel.zero = 1;
  const MemoryProjection zero = memory_project(cfg, 4);
  EXPECT_EQ(zero.data, 4);
  EXPECT_EQ(zero.optimizer_bytes, base.optimizer_bytes / 4);
  EXPECT_EQ(zero.weights_bytes, base.weights_bytes);
  cfg.parallel.zero = 0;
  cfg.parallel.tensor = 2;
  const MemoryProjection tp = memory_project(cfg, 2);
  EXPECT_LT(tp.weights_bytes, base.weights_bytes * 6 / 10);
  EXPECT_LT(tp.activation_bytes, base.activation_bytes);
  cfg.parallel.tensor = 1;
  cfg.backend.recompute = "full";
  EXPECT_LT(memory_project(cfg, 1).activation_bytes, base.activation_bytes);
  cfg.backend.recompute = "selective";
  EXPECT_LT(memory_project(cfg, 1).activation_bytes, base.activation_bytes);
  cfg.backend.recompute = "none";
  cfg.parallel.pipeline = 3;
  const MemoryProjection pp = memory_project(cfg, 3);
  EXPECT_EQ(pp.layers_rank, 1);
  EXPECT_LT(pp.params_rank, base.params_rank);
}

// The single-device activation plan with recompute is what the model really plans.
TEST(MemoryProjection, RecomputeActivationsMatchTheModelsPlan) {
  for (const std::string arch : {"gpt2", "llama"}) {
    const config::ExperimentConfig cfg = tiny(arch);
    auto backend = runtime::make_backend("cpu", 1);
    size_t previous = 0;
    for (const std::string mode : {"none", "selective", "full"}) {
      models::Model model(cfg.model, *backend, 2, 32, DType::kF32, {}, models::parse_recompute(mode));
      const size_t projected = activation_bytes_single(cfg.model, 2, 32, DType::kF32, mode);
      EXPECT_EQ(projected, model.activation_bytes()) << arch << " " << mode;
      if (previous > 0) EXPECT_LT(projected, previous) << arch << " " << mode;
      previous = projected;
    }
  }
}

TEST(MemoryProjection, ImpossibleLayoutsAreUsageErrors) {
  config::ExperimentConfig cfg = tiny("llama");
  cfg.parallel.tensor = 3;  // 4 heads, 2 kv heads
  try {
    memory_project(cfg);
    FAIL() << "tensor=3 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("parallel.tensor=3"), std::string::npos) << e.what();
  }
  cfg.parallel.tensor = 2;
  EXPECT_THROW(memory_project(cfg, 3), Error);  // 3 processes, tensor 2
  cfg.parallel.tensor = 1;
  cfg.parallel.pipeline = 4;                     // 3 layers
  EXPECT_THROW(memory_project(cfg), Error);
}

}  // namespace
}  // namespace primus::preflight
