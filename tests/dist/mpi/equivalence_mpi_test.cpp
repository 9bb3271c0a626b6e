// Data parallel (after backward, and overlapping the last backward through the model's
// gradient-ready hook) and ZeRO-1 reproduce the single-process loss curve: 10 AdamW steps (with
// global-norm clipping) of tiny GPT-2 and tiny Llama in fp32, with gradient accumulation. The
// reference is run by every rank on its own: one process accumulating the N x A micro-batches of
// each step. The distributed runs give rank r micro-batches r + N*a, a < A. Losses must agree within
// 1e-5 relative, and parameters must end identical on every rank.
#include <gtest/gtest.h>

#include <cmath>

#include "core/rng.h"
#include "cpu/cpu_backend.h"
#include "dist/data_parallel.h"
#include "models/model.h"
#include "tiny_models.h"
#include "world.h"

namespace primus::dist::testing {
namespace {

constexpr int kSteps = 10;
constexpr int kAccum = 2;   // micro-batches per rank and step
constexpr int64_t kB = 2, kT = 16;
constexpr float kClip = 1.0f;

config::ModelConfig tiny(bool llama) { return tiny_model({.llama = llama, .qkv_bias = !llama}); }

// Tokens of micro-batch `micro` at step `step`: rows of T+1 tokens; inputs [:, :T], targets [:, 1:].
struct Batch {
  std::vector<int32_t> inputs, targets;   // (B,T) each
};
Batch make_batch(int step, int micro, int64_t V) {
  Rng rng(1000 + 97 * step + micro);
  Batch b{std::vector<int32_t>(kB * kT), std::vector<int32_t>(kB * kT)};
  for (int64_t i = 0; i < kB; ++i) {
    std::vector<int32_t> row(kT + 1);
    // A learnable sequence (each token determines the next) from a random start, so the loss falls.
    row[0] = static_cast<int32_t>(rng.below(V));
    for (int64_t t = 0; t < kT; ++t) row[t + 1] = static_cast<int32_t>((row[t] * 5 + 1) % 61);
    for (int64_t t = 0; t < kT; ++t) {
      b.inputs[i * kT + t] = row[t];
      b.targets[i * kT + t] = row[t + 1];
    }
  }
  return b;
}

std::vector<ParamSegment> decay_segments(const models::Model& model, float wd) {
  std::vector<ParamSegment> segs;
  for (const auto& p : model.params()) segs.push_back({p.offset, p.shape.numel(), p.decay ? wd : 0.0f});
  return segs;
}

AdamWArgs adamw_args(int step, float norm2) {
  float norm = std::sqrt(norm2);
  return AdamWArgs{.lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .step = step,
                   .grad_scale = norm > kClip ? kClip / norm : 1.0f};
}

enum class Mode { kSingle, kDataParallel, kOverlap, kZero1 };

// Returns the loss of every step; `params_out` receives the final parameters.
std::vector<double> train(bool llama, Mode mode, Comm& comm, std::vector<float>* params_out) {
  auto backend = cpu::make_cpu_backend(1);
  auto cfg = tiny(llama);
  models::Model model(cfg, *backend, kB, kT);
  model.init_weights(1234);
  const int64_t P = model.num_params();
  const int N = comm.size();
  auto segs = decay_segments(model, 0.1f);
  std::vector<float> m(P, 0.0f), v(P, 0.0f);   // (P) moments of the non-sharded runs
  Tensor params = model.params_buffer(), grads = model.grads_buffer();
  DataParallel dp(comm, 1000);   // small buckets: many all-reduces
  ZeroOptimizer zero(comm, *backend, P, segs);
  std::vector<double> losses;
  float norm2 = 0.0f;
  Tensor norm_t{&norm2, DType::kF32, Shape{1}, DeviceKind::kCPU};
  for (int step = 1; step <= kSteps; ++step) {
    model.zero_grads();
    double loss = 0.0;
    if (mode == Mode::kSingle) {
      for (int micro = 0; micro < N * kAccum; ++micro) {
        Batch b = make_batch(step, micro, cfg.vocab_size);
        loss += model.forward(b.inputs.data(), b.targets.data());
        model.backward(1.0f / (N * kAccum));
      }
      loss /= N * kAccum;
    } else {
      for (int a = 0; a < kAccum; ++a) {
        Batch b = make_batch(step, comm.rank() + N * a, cfg.vocab_size);
        loss += model.forward(b.inputs.data(), b.targets.data());
        const bool overlap = mode == Mode::kOverlap && a + 1 == kAccum;
        if (overlap) {
          dp.begin_overlap(grads);
          model.set_grad_ready_hook([&](int64_t offset, int64_t size) { dp.grads_ready(offset, size); });
        }
        model.backward(1.0f / kAccum);
        model.set_grad_ready_hook({});
        if (overlap) dp.finish_overlap();
      }
      loss /= kAccum;
    }
    if (mode == Mode::kZero1) {
      loss = DataParallel(comm).average(static_cast<float>(loss));
      zero.reduce_scatter_grads(grads);
      zero.step(params, Tensor{}, adamw_args(step, zero.grad_norm_squared()));
    } else {
      if (mode == Mode::kDataParallel) dp.all_reduce_grads(grads);
      if (mode != Mode::kSingle) loss = dp.average(static_cast<float>(loss));
      backend->grad_norm_squared(norm_t, grads);
      backend->adamw_update(params, Tensor{}, host_tensor(m), host_tensor(v), grads, segs, adamw_args(step, norm2));
    }
    losses.push_back(loss);
  }
  params_out->assign(params.f32(), params.f32() + P);
  return losses;
}

class Equivalence : public ::testing::TestWithParam<bool> {};

TEST_P(Equivalence, DataParallelAndZero1MatchOneProcess) {
  Comm& w = world();
  const bool llama = GetParam();
  std::vector<float> p_ref, p_dp, p_overlap, p_zero;
  auto ref = train(llama, Mode::kSingle, w, &p_ref);
  auto dp = train(llama, Mode::kDataParallel, w, &p_dp);
  auto overlap = train(llama, Mode::kOverlap, w, &p_overlap);
  auto zero = train(llama, Mode::kZero1, w, &p_zero);
  ASSERT_EQ(ref.size(), static_cast<size_t>(kSteps));
  EXPECT_LT(ref.back(), ref.front()) << "the reference did not learn; the comparison would be weak";
  double rel_dp = 0.0, rel_overlap = 0.0, rel_zero = 0.0;
  for (int s = 0; s < kSteps; ++s) {
    rel_dp = std::max(rel_dp, std::abs(dp[s] - ref[s]) / std::abs(ref[s]));
    rel_overlap = std::max(rel_overlap, std::abs(overlap[s] - ref[s]) / std::abs(ref[s]));
    rel_zero = std::max(rel_zero, std::abs(zero[s] - ref[s]) / std::abs(ref[s]));
    EXPECT_NEAR(dp[s], ref[s], 1e-5 * std::abs(ref[s])) << "data parallel, step " << s + 1;
    EXPECT_NEAR(overlap[s], ref[s], 1e-5 * std::abs(ref[s])) << "overlapped data parallel, step " << s + 1;
    EXPECT_NEAR(zero[s], ref[s], 1e-5 * std::abs(ref[s])) << "ZeRO-1, step " << s + 1;
  }
  // Same buckets, same reductions: overlapping changes when, not what.
  EXPECT_EQ(overlap, dp) << "the overlapped all-reduce gave other losses than the one after backward";
  EXPECT_EQ(p_overlap, p_dp) << "the overlapped all-reduce gave other parameters than the one after backward";
  if (w.rank() == 0) {
    std::printf("%s x%d: loss %.5f -> %.5f; worst relative loss difference: DP %.2e, overlapped DP %.2e, "
                "ZeRO-1 %.2e\n", llama ? "llama" : "gpt2", w.size(), ref.front(), ref.back(), rel_dp, rel_overlap,
                rel_zero);
  }
  // Every rank ends with the same parameters: rank 0's are broadcast and compared.
  for (auto* p : {&p_dp, &p_overlap, &p_zero}) {
    std::vector<float> root = *p;
    w.broadcast(host_tensor(root), 0);
    size_t differ = 0;
    for (size_t i = 0; i < root.size(); ++i) differ += root[i] != (*p)[i];
    EXPECT_EQ(differ, 0u);
  }
  double worst = 0.0;
  for (size_t i = 0; i < p_ref.size(); ++i) worst = std::max(worst, double(std::abs(p_zero[i] - p_ref[i])));
  EXPECT_LT(worst, 1e-4) << "ZeRO-1 parameters drifted from the reference";
}

INSTANTIATE_TEST_SUITE_P(Models, Equivalence, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Llama" : "Gpt2"; });

}  // namespace
}  // namespace primus::dist::testing
