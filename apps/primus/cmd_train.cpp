// `primus train -c exp.yaml [--set k=v] [--resume | --force] [--init-from DIR]`: loads and
// validates the experiment, makes the backend and runs train::run_training.
#include <memory>

#include "apps/primus/commands.h"
#include "config/loader.h"
#include "core/error.h"
#include "runtime/backends.h"
#include "train/run.h"

namespace primus::app {

namespace {
struct TrainOptions {
  std::string file;
  std::vector<std::string> overrides;
  std::string init_from;
  bool resume = false, force = false;
};
}  // namespace

void add_train_command(CLI::App& app) {
  auto opts = std::make_shared<TrainOptions>();
  auto* cmd = app.add_subcommand("train", "Train a model from an experiment config");
  cmd->add_option("-c,--config", opts->file, "experiment file (.yaml, .yml or .toml)")->required();
  cmd->add_option("--set", opts->overrides, "override one key: --set optim.lr=1e-3 (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_flag("--resume", opts->resume, "continue the run from its latest checkpoint");
  cmd->add_flag("--force", opts->force, "delete an existing run of the same name first");
  cmd->add_option("--init-from", opts->init_from,
                  "start from the safetensors weights in this folder (a checkpoint or a transformers model)");
  cmd->callback([opts] {
    if (opts->resume && opts->force) throw usage_error("--resume and --force contradict each other");
    config::ExperimentConfig cfg = config::load_experiment(opts->file, opts->overrides);
    if (!opts->init_from.empty()) cfg.checkpoint.init_from = opts->init_from;
    auto backend = runtime::make_backend(cfg.backend.device, static_cast<int>(cfg.backend.threads));
    train::RunOptions run;
    run.resume = opts->resume;
    run.force = opts->force;
    train::run_training(cfg, config::render_yaml(cfg), *backend, run);
  });
}

}  // namespace primus::app
