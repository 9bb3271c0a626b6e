// A tiny GPT-2 experiment for training tests: two layers, C=32, V=96 padded to 128, B=2, T=8,
// two micro-batches per step, mock data. Each test builds its own backend, model and loaders.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "config/experiment.h"
#include "data/loader.h"
#include "models/model.h"
#include "runtime/backends.h"

namespace primus::train::testing {

inline config::ExperimentConfig tiny_config() {
  config::ExperimentConfig c;
  c.exp_name = "tiny";
  c.model.arch = "gpt2";
  c.model.num_layers = 2;
  c.model.hidden_size = 32;
  c.model.num_attention_heads = 4;
  c.model.vocab_size = 96;
  c.model.make_vocab_size_divisible_by = 64;
  c.model.max_position_embeddings = 16;
  c.data.mock = true;
  c.train.micro_batch_size = 2;
  c.train.global_batch_size = 4;
  c.train.seq_len = 8;
  c.train.steps = 20;
  c.train.seed = 7;
  c.optim.lr = 3e-3;
  c.schedule.kind = "cosine";
  c.schedule.lr_warmup_steps = 3;
  c.backend.threads = 1;
  c.checkpoint.every_steps = 0;
  c.checkpoint.keep_last = 3;
  c.logging.every_steps = 0;
  c.logging.progress = "off";
  return c;
}

// Backend, model and training loader of one run.
struct TinyRun {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<models::Model> model;
  std::unique_ptr<data::TokenLoader> train, valid;
  explicit TinyRun(const config::ExperimentConfig& c, uint64_t init_seed = 11) {
    backend = runtime::make_backend("cpu", 1);
    model = std::make_unique<models::Model>(c.model, *backend, c.train.micro_batch_size, c.train.seq_len);
    model->init_weights(init_seed);
    train = data::make_loader(c.data, data::Split::kTrain, c.train.micro_batch_size, c.train.seq_len, 0, 1,
                              c.train.seed, c.model.vocab_size);
    valid = data::make_loader(c.data, data::Split::kValid, c.train.micro_batch_size, c.train.seq_len, 0, 1,
                              c.train.seed, c.model.vocab_size);
  }
  std::vector<float> params() {
    std::vector<float> out(static_cast<size_t>(model->num_params()));
    backend->copy_to_host(out.data(), model->params_buffer());
    return out;
  }
};

inline std::filesystem::path fresh_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / fmt::format("primus_train_{}_{}", name, ::getpid());
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

}  // namespace primus::train::testing
