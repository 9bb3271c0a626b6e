// The step graph's micro-batch loop with the data-parallel sync inside it (what a GPU records and
// replays under data parallelism), run eagerly on the CPU over MPI: its gradients and losses are
// bit-identical to the trainer's own eager loop (overlapped buckets, average after the loop) and to
// the all-reduce after backward, for tiny GPT-2 and Llama with two micro-batches a step.
#include <gtest/gtest.h>

#include "cpu/cpu_backend.h"
#include "data/loader.h"
#include "models/model.h"
#include "train/data_parallel_sync.h"
#include "train/step_graph.h"
#include "tiny_models.h"
#include "world.h"

namespace primus::dist::testing {
namespace {

constexpr int64_t kB = 2, kT = 16, kAccum = 2;
constexpr int kSteps = 3;

config::ModelConfig tiny(bool llama) { return tiny_model({.llama = llama, .vocab = 500}); }

enum class Loop { kStepGraph, kTrainerOverlap, kAfterBackward };

struct StepResult {
  std::vector<float> loss_local;            // this rank's mean loss of each step (before averaging)
  std::vector<std::vector<float>> grads;    // (P) averaged gradients of each step
  std::vector<float> local_grads_step1;     // (P) this rank's own gradients of step 1 (no sync)
};

StepResult run(bool llama, Loop loop) {
  Comm& w = world();
  auto backend = cpu::make_cpu_backend(1);
  const config::ModelConfig cfg = tiny(llama);
  models::Model model(cfg, *backend, kB, kT);
  model.init_weights(99);
  config::DataConfig data;
  data.mock = true;
  auto loader = data::make_loader(data, data::Split::kTrain, kB, kT, w.rank(), w.size(), 5, cfg.vocab_size);
  // Small buckets, so that several of them start during the last backward.
  train::DataParallelSync sync(w, *backend, loop != Loop::kAfterBackward, 3000);
  train::StepGraph graph(model, kAccum, -100, /*record=*/false, &sync);
  EXPECT_TRUE(graph.averages_grads());
  Buffer loss_mem = backend->alloc(sizeof(float));
  Tensor loss = loss_mem.as(DType::kF32, {1});   // (1)
  Tensor grads = model.grads_buffer();           // (P)
  std::vector<int32_t> inputs(kB * kT), targets(kB * kT);
  StepResult r;
  for (int step = 0; step < kSteps; ++step) {
    if (loop == Loop::kStepGraph) {
      graph.run(*loader, loss);
    } else {   // the trainer's eager loop (Trainer::train_step without a step graph)
      const float scale = 1.0f / kAccum;
      model.zero_grads();
      backend->fill(loss, 0.0f);
      for (int64_t m = 0; m < kAccum; ++m) {
        loader->next(inputs.data(), targets.data());
        model.forward_accumulate(inputs.data(), targets.data(), loss, scale, -100);
        const bool overlap = m + 1 == kAccum && sync.start_overlap(grads);
        if (overlap) model.set_grad_ready_hook([&](int64_t o, int64_t n) { sync.grads_ready(o, n); });
        model.backward(scale);
        model.set_grad_ready_hook({});
      }
      if (step == 0 && loop == Loop::kAfterBackward) r.local_grads_step1.assign(grads.f32(), grads.f32() + grads.numel());
      sync.average_grads(grads);
    }
    r.loss_local.push_back(loss.f32()[0]);
    r.grads.emplace_back(grads.f32(), grads.f32() + grads.numel());
    // Change the weights a little, so that each step's gradients differ.
    backend->scale(model.params_buffer(), 0.99f);
  }
  EXPECT_EQ(graph.eager_steps(), loop == Loop::kStepGraph ? kSteps : 0);
  EXPECT_EQ(graph.replays(), 0);
  return r;
}

class StepGraphSync : public ::testing::TestWithParam<bool> {};

TEST_P(StepGraphSync, LoopWithTheSyncInsideMatchesTheTrainerLoop) {
  Comm& w = world();
  const bool llama = GetParam();
  const StepResult graph = run(llama, Loop::kStepGraph), overlap = run(llama, Loop::kTrainerOverlap),
                   after = run(llama, Loop::kAfterBackward);
  ASSERT_EQ(graph.grads.size(), static_cast<size_t>(kSteps));
  for (int s = 0; s < kSteps; ++s) {
    EXPECT_EQ(graph.loss_local[s], overlap.loss_local[s]) << "step " << s + 1;
    EXPECT_EQ(graph.grads[s], overlap.grads[s]) << "step " << s + 1 << ": the step graph's loop gave other gradients";
    EXPECT_EQ(graph.grads[s], after.grads[s]) << "step " << s + 1 << ": other gradients than the all-reduce after backward";
  }
  // The gradients were averaged: not this rank's own (ranks read other micro-batches), and the
  // same on every rank (rank 0's broadcast and compared).
  const std::vector<float>& g = graph.grads[0];
  size_t differ_local = 0, nonzero = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    differ_local += g[i] != after.local_grads_step1[i];
    nonzero += g[i] != 0.0f;
  }
  EXPECT_GT(nonzero, g.size() / 2);
  if (w.size() > 1) {
    EXPECT_GT(differ_local, g.size() / 2) << "the gradients look unaveraged";
  }
  std::vector<float> root = g;
  w.broadcast(host_tensor(root), 0);
  EXPECT_EQ(root, g) << "ranks ended step 1 with other gradients";
}

INSTANTIATE_TEST_SUITE_P(Models, StepGraphSync, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Llama" : "Gpt2"; });

}  // namespace
}  // namespace primus::dist::testing
