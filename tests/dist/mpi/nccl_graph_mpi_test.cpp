// Data parallel with the CUDA graph over NCCL (GPU machine, one GPU per rank; skipped unless every
// rank has a GPU, CUDA was built and there are at least 2 ranks): an all-reduce started while the
// compute stream is being recorded lands in the graph and runs at every replay, and the trainer's
// DP run with backend.cuda_graphs gives the losses and weights of the same DP run without the
// graph for 20 steps (tiny GPT-2 and Llama, fp32 and bf16, two micro-batches a step, small buckets),
// and so does ZeRO-1 (whose loop alone is recorded).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "data/loader.h"
#include "models/model.h"
#include "runtime/backends.h"
#include "train/data_parallel_sync.h"
#include "train/optimizer.h"
#include "train/trainer.h"
#include "world.h"

namespace primus::dist::testing {
namespace {

class NcclGraph : public ::testing::Test {
 protected:
  void SetUp() override {
    auto names = runtime::compiled_backends();
    if (std::find(names.begin(), names.end(), "cuda") == names.end()) GTEST_SKIP() << "built without CUDA";
    if (world().size() < 2) GTEST_SKIP() << "needs 2 ranks";
    std::string why;
    try {
      gpu_ = runtime::make_backend("cuda:" + std::to_string(detect_launch().local_rank));
    } catch (const Error& e) {
      why = e.what();
    }
    // Skip on every rank or on none: a lone rank in a collective would hang.
    int ok = gpu_ ? 1 : 0;
    world().all_reduce(Tensor{&ok, DType::kI32, Shape{1}, DeviceKind::kCPU}, ReduceOp::kMin);
    if (!ok) GTEST_SKIP() << "a rank has no GPU" << (why.empty() ? "" : ": " + why);
    if (!nccl_) nccl_ = make_world_comm(DeviceKind::kCUDA, detect_launch().local_rank);
  }
  std::unique_ptr<Backend> gpu_;
  static inline std::unique_ptr<Comm> nccl_;
};

TEST_F(NcclGraph, AllReduceStartedDuringCaptureReplays) {
  Comm& c = *nccl_;
  ASSERT_TRUE(c.records_into_graphs());
  const int S = c.size(), r = c.rank();
  const int64_t n = 4097;
  std::vector<float> x(n);   // (n) this rank's values
  for (int64_t i = 0; i < n; ++i) x[i] = rank_value(r, i);
  Buffer mem = gpu_->alloc(n * sizeof(float));
  Tensor t = mem.as(DType::kF32, Shape{n});   // (n)
  {   // one eager all-reduce of the same size first, as the trainer's first step does (NCCL connects lazily)
    Buffer warm = gpu_->alloc(n * sizeof(float));
    c.all_reduce(warm.as(DType::kF32, Shape{n}), ReduceOp::kSum);
  }
  gpu_->copy_from_host(t, x.data());
  gpu_->synchronize();
  gpu_->graph_begin();
  gpu_->scale(t, 2.0f);
  auto request = c.all_reduce_start(t, ReduceOp::kSum, gpu_->native_stream());
  EXPECT_FALSE(request->test()) << "a captured request must not be queried";
  request->wait();
  request.reset();
  gpu_->scale(t, 0.5f);
  gpu_->graph_end();
  std::vector<float> got(n);
  gpu_->copy_to_host(got.data(), t);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], x[i]) << "recording ran the ops, element " << i;
  // Each replay: t = sum over ranks of t (x2 then /2: exact). Every rank starts from its own values.
  std::vector<std::vector<float>> all(S, std::vector<float>(n));
  for (int k = 0; k < S; ++k)
    for (int64_t i = 0; i < n; ++i) all[k][i] = rank_value(k, i);
  for (int replay = 1; replay <= 3; ++replay) {
    ASSERT_TRUE(gpu_->graph_replay());
    std::vector<float> want(n, 0.0f);
    for (int k = 0; k < S; ++k)
      for (int64_t i = 0; i < n; ++i) want[i] += all[k][i];
    for (int k = 0; k < S; ++k) all[k] = want;
    gpu_->copy_to_host(got.data(), t);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(got[i], want[i], 1e-5f * std::abs(want[i])) << "replay " << replay << " i " << i;
  }
  gpu_->graph_reset();
}

config::ExperimentConfig tiny(const std::string& arch, const std::string& compute) {
  config::ExperimentConfig c;
  c.model.arch = arch;
  c.model.num_layers = 2;
  c.model.hidden_size = 32;
  c.model.num_attention_heads = 2;   // head size 16
  c.model.num_kv_heads = arch == "llama" ? 1 : 0;
  c.model.ffn_hidden_size = arch == "llama" ? 64 : 0;
  c.model.tie_embeddings = arch == "gpt2";
  c.model.vocab_size = 96;
  c.model.make_vocab_size_divisible_by = 64;
  c.model.max_position_embeddings = 16;
  c.precision.compute = compute;
  c.data.mock = true;
  c.train.micro_batch_size = 2;
  c.train.seq_len = 8;
  c.train.global_batch_size = 2 * 2 * world().size();   // two micro-batches per rank and step
  c.train.steps = 20;
  c.train.seed = 7;
  c.optim.lr = 3e-3;
  c.schedule.kind = "cosine";
  c.schedule.lr_warmup_steps = 3;
  c.checkpoint.every_steps = 0;
  c.logging.every_steps = 0;
  c.logging.progress = "off";
  return c;
}

struct DpRun {
  std::vector<double> losses;
  std::vector<float> params;   // (P) at the end
  double moved = 0;            // largest |parameter change| over the run: the replays did train
  int64_t replays = 0;
};

DpRun train_dp(Backend& gpu, Comm& nccl, config::ExperimentConfig cfg, bool graphs, bool zero1) {
  cfg.backend.cuda_graphs = graphs;
  models::Model model(cfg.model, gpu, cfg.train.micro_batch_size, cfg.train.seq_len,
                      config::compute_dtype(cfg.precision));
  model.init_weights(11);
  std::vector<float> init(static_cast<size_t>(model.num_params()));   // (P)
  gpu.copy_to_host(init.data(), model.params_buffer());
  auto loader = data::make_loader(cfg.data, data::Split::kTrain, cfg.train.micro_batch_size, cfg.train.seq_len,
                                  nccl.rank(), nccl.size(), cfg.train.seed, cfg.model.vocab_size);
  train::DataParallelSync sync(nccl, gpu, /*overlap=*/true, /*bucket_elems=*/2000);   // several buckets
  train::ZeroSync zero(nccl, gpu, train::plan_decay_segments(model.params(), cfg.optim));
  train::TrainerOptions o;
  o.dp_rank = nccl.rank();
  o.dp_size = nccl.size();
  o.grad_sync = zero1 ? static_cast<train::GradSync*>(&zero) : &sync;
  train::Trainer trainer(cfg, model, *loader, nullptr, o);
  DpRun r;
  r.losses = trainer.run().losses;
  r.replays = trainer.graph_replays();
  r.params.resize(static_cast<size_t>(model.num_params()));
  gpu.copy_to_host(r.params.data(), model.params_buffer());
  for (size_t i = 0; i < init.size(); ++i) r.moved = std::max(r.moved, static_cast<double>(std::abs(r.params[i] - init[i])));
  return r;
}

void replay_matches_eager(Backend& gpu, Comm& nccl, bool zero1) {
  const char* what = zero1 ? "ZeRO-1" : "DP";
  for (const std::string arch : {"gpt2", "llama"})
    for (const std::string compute : {"fp32", "bf16"}) {
      const config::ExperimentConfig cfg = tiny(arch, compute);
      const DpRun eager = train_dp(gpu, nccl, cfg, false, zero1), graph = train_dp(gpu, nccl, cfg, true, zero1);
      EXPECT_EQ(eager.replays, 0);
      EXPECT_EQ(graph.replays, 19) << "the first step runs eagerly, the others replay";
      ASSERT_EQ(eager.losses.size(), 20u);
      ASSERT_EQ(graph.losses.size(), 20u);
      // Mock tokens are uniform: the loss has nothing to fall to, so check that the steps moved the weights.
      EXPECT_GT(graph.moved, 1e-4) << what << " " << arch << " " << compute << ": the replayed steps left the weights";
      for (size_t i = 0; i < 20; ++i)
        EXPECT_NEAR(graph.losses[i], eager.losses[i], 1e-6 * std::abs(eager.losses[i]))
            << what << " " << arch << " " << compute << " step " << i + 1;
      double worst = 0;
      for (size_t i = 0; i < eager.params.size(); ++i)
        worst = std::max(worst, static_cast<double>(std::abs(graph.params[i] - eager.params[i])));
      EXPECT_LE(worst, 1e-6) << what << " " << arch << " " << compute;
      // The replayed all-reduces kept the replicas identical: rank 0's weights on every rank.
      std::vector<float> root = graph.params;
      world().broadcast(host_tensor(root), 0);
      EXPECT_EQ(root, graph.params) << what << " " << arch << " " << compute << ": the ranks' weights differ";
      if (world().rank() == 0)
        std::printf("%s %s %s x%d: loss %.5f -> %.5f, graph vs eager worst weight difference %.2e\n", arch.c_str(),
                    compute.c_str(), what, world().size(), eager.losses.front(), eager.losses.back(), worst);
    }
}

TEST_F(NcclGraph, DataParallelReplayMatchesEagerFor20Steps) { replay_matches_eager(*gpu_, *nccl_, false); }

TEST_F(NcclGraph, Zero1ReplayMatchesEagerFor20Steps) { replay_matches_eager(*gpu_, *nccl_, true); }

}  // namespace
}  // namespace primus::dist::testing
