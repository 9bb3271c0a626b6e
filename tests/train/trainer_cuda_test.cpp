// The training step recorded as a CUDA graph (backend.cuda_graphs) against the same run eagerly on
// the GPU: 20 steps of tiny GPT-2 and Llama, two micro-batches a step, fp32 and bf16, give the same
// losses and final weights, and the graph really replays. Skips where CUDA was not built or no GPU
// is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "tiny.h"
#include "train/trainer.h"

namespace primus::train {
namespace {

std::unique_ptr<Backend> cuda_backend() { return runtime::make_backend_if_present("cuda"); }

struct GpuRun {
  std::vector<double> losses;
  std::vector<float> params;
  int64_t replays = 0;
};

GpuRun train_on_gpu(config::ExperimentConfig cfg, bool graphs) {
  cfg.backend.cuda_graphs = graphs;
  auto backend = cuda_backend();
  models::Model model(cfg.model, *backend, cfg.train.micro_batch_size, cfg.train.seq_len,
                      config::compute_dtype(cfg.precision));
  model.init_weights(11);
  auto loader = data::make_loader(cfg.data, data::Split::kTrain, cfg.train.micro_batch_size, cfg.train.seq_len, 0, 1,
                                  cfg.train.seed, cfg.model.vocab_size);
  Trainer trainer(cfg, model, *loader, nullptr);
  GpuRun r;
  r.losses = trainer.run().losses;
  r.replays = trainer.graph_replays();
  r.params.resize(static_cast<size_t>(model.num_params()));
  backend->copy_to_host(r.params.data(), model.params_buffer());
  return r;
}

TEST(TrainerCuda, GraphReplayMatchesEagerFor20Steps) {
  if (!cuda_backend()) GTEST_SKIP() << "no CUDA GPU";
  for (const std::string arch : {"gpt2", "llama"})
    for (const std::string compute : {"fp32", "bf16"}) {
      config::ExperimentConfig cfg = testing::tiny_config();
      cfg.model.arch = arch;
      cfg.model.num_attention_heads = 2;   // head size 16
      cfg.model.num_kv_heads = arch == "llama" ? 1 : 0;
      cfg.model.ffn_hidden_size = arch == "llama" ? 64 : 0;
      cfg.model.tie_embeddings = arch == "gpt2";
      cfg.precision.compute = compute;
      const GpuRun eager = train_on_gpu(cfg, false), graph = train_on_gpu(cfg, true);
      EXPECT_EQ(eager.replays, 0);
      EXPECT_EQ(graph.replays, 19) << "the first step runs eagerly, the others replay";
      ASSERT_EQ(graph.losses.size(), 20u);
      ASSERT_EQ(eager.losses.size(), 20u);
      EXPECT_LT(graph.losses.back(), graph.losses.front()) << arch << " " << compute;
      for (size_t i = 0; i < 20; ++i)
        EXPECT_NEAR(graph.losses[i], eager.losses[i], 1e-6 * std::abs(eager.losses[i])) << arch << " " << compute << " step " << i;
      double worst = 0;
      for (size_t i = 0; i < eager.params.size(); ++i)
        worst = std::max(worst, static_cast<double>(std::abs(graph.params[i] - eager.params[i])));
      EXPECT_LE(worst, 1e-6) << arch << " " << compute;
    }
}

}  // namespace
}  // namespace primus::train
