// ZeRO-1 through the trainer holds about 1/D of the optimizer state: the trainer's AdamW keeps no
// full moments (they exist only while a checkpoint is gathered or loaded), the shards hold
// floor(P/D) + tail elements of m and v. Also checks that a checkpoint written under ZeRO-1 holds
// the same full moments as the shards (gathered) and that loading it puts the shards back.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "data/loader.h"
#include "runtime/backends.h"
#include "train/data_parallel_sync.h"
#include "train/safetensors.h"
#include "world.h"

namespace primus::dist::testing {
namespace {

config::ExperimentConfig tiny_experiment(int dp) {
  config::ExperimentConfig c;
  c.exp_name = "zero_memory";
  c.model.arch = "gpt2";
  c.model.num_layers = 2;
  c.model.hidden_size = 32;
  c.model.num_attention_heads = 4;
  c.model.vocab_size = 96;
  c.model.make_vocab_size_divisible_by = 64;
  c.model.max_position_embeddings = 16;
  c.data.mock = true;
  c.train.micro_batch_size = 2;
  c.train.global_batch_size = 2 * dp;
  c.train.seq_len = 8;
  c.train.steps = 3;
  c.backend.threads = 1;
  c.checkpoint.every_steps = 0;
  c.checkpoint.save_at_end = false;
  c.logging.every_steps = 0;
  c.logging.progress = "off";
  return c;
}

struct ReplicaRun {
  std::unique_ptr<Backend> backend = runtime::make_backend("cpu", 1);
  std::unique_ptr<models::Model> model;
  std::unique_ptr<data::TokenLoader> loader;
  ReplicaRun(const config::ExperimentConfig& c, int rank, int size) {
    model = std::make_unique<models::Model>(c.model, *backend, c.train.micro_batch_size, c.train.seq_len);
    model->init_weights(5);
    loader = data::make_loader(c.data, data::Split::kTrain, c.train.micro_batch_size, c.train.seq_len, rank, size,
                               c.train.seed, c.model.vocab_size);
  }
};

TEST(ZeroMemory, TrainerHoldsAboutOneOverDOfTheOptimizerState) {
  Comm& w = world();
  const int D = w.size();
  const auto cfg = tiny_experiment(D);
  ReplicaRun full_run(cfg, 0, 1);   // one process, full AdamW state
  train::Trainer full(cfg, *full_run.model, *full_run.loader, nullptr);
  const size_t P = static_cast<size_t>(full_run.model->num_params());
  EXPECT_EQ(full.optimizer_state_bytes(), 8 * P);

  ReplicaRun run(cfg, w.rank(), D);
  train::ZeroSync sync(w, *run.backend, train::plan_decay_segments(run.model->params(), cfg.optim));
  const auto dir = std::filesystem::temp_directory_path() / ("primus_zero_memory_" + std::to_string(getppid()));
  train::TrainerOptions o;
  o.dp_rank = w.rank();
  o.dp_size = D;
  o.grad_sync = &sync;
  o.checkpoints_dir = dir.string();
  train::Trainer trainer(cfg, *run.model, *run.loader, nullptr, o);
  EXPECT_EQ(trainer.optimizer_state_bytes(), 0u) << "no full moments before the first step";
  auto result = trainer.run();
  ASSERT_EQ(result.final_step, 3);
  const size_t shard = P / D, tail = P - D * shard;
  EXPECT_EQ(trainer.optimizer_state_bytes(), 8 * (shard + tail));
  EXPECT_LE(trainer.optimizer_state_bytes() * D, 8 * P + 8 * static_cast<size_t>(D) * D);
  if (w.rank() == 0) {
    std::printf("optimizer state per rank: %zu bytes under ZeRO-1 x%d, %zu bytes without\n",
                trainer.optimizer_state_bytes(), D, full.optimizer_state_bytes());
  }

  // A checkpoint: the full moments exist only while it is written.
  const std::string ckpt = trainer.save_checkpoint();
  EXPECT_EQ(trainer.optimizer_state_bytes(), 8 * (shard + tail));
  w.barrier();
  train::SafetensorsReader r((std::filesystem::path(train::latest_checkpoint(dir.string())) / "optimizer.safetensors").string());
  std::vector<float> m(P), v(P);   // (P)
  r.read_f32(r.at("adamw.m"), m.data());
  r.read_f32(r.at("adamw.v"), v.data());
  size_t zeros = 0;
  for (size_t i = 0; i < P; ++i) zeros += v[i] == 0.0f;
  EXPECT_LT(zeros, P / 10) << "the saved second moments are mostly zero: the shards were not gathered";
  // Resume on a fresh model: the shards come back from the file, again without full moments.
  ReplicaRun again(cfg, w.rank(), D);
  train::ZeroSync sync2(w, *again.backend, train::plan_decay_segments(again.model->params(), cfg.optim));
  o.grad_sync = &sync2;
  train::Trainer resumed(cfg, *again.model, *again.loader, nullptr, o);
  resumed.resume(train::latest_checkpoint(dir.string()));
  EXPECT_EQ(resumed.optimizer_state_bytes(), 8 * (shard + tail));
  w.barrier();
  if (w.rank() == 0) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace primus::dist::testing
