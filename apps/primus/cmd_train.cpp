// `primus train -c exp.yaml [--set k=v] [--resume | --force] [--init-from DIR]`: loads and
// validates the experiment, makes the backend and runs train::run_training. Under mpirun or srun
// every rank runs this: the ranks form a process mesh (tensor, data, pipeline); the data group
// syncs gradients (train::DataParallelSync behind the trainer's GradSync hook; with
// parallel.zero = 1 train::ZeroSync shards the optimizer of this rank's model shard and does the
// update), and a rank that fails takes the others down naming itself.
#include <cmath>
#include <memory>

#include "apps/primus/commands.h"
#include "config/loader.h"
#include "core/error.h"
#include "core/log.h"
#include "dist/mesh.h"
#include "models/model.h"
#include "train/data_parallel_sync.h"
#include "train/optimizer.h"
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
    const dist::LaunchInfo launch = dist::detect_launch();
    const bool cuda = cfg.backend.device.rfind("cuda", 0) == 0;
    std::string device = cfg.backend.device;
    if (device == "cuda" && launch.local_size > 1) device = "cuda:" + std::to_string(launch.local_rank);
    auto world = dist::make_world_comm(cuda ? DeviceKind::kCUDA : DeviceKind::kCPU, launch.local_rank);
    default_logger().set_rank(world->rank(), world->size());
    dist::run_or_abort(*world, [&] {
      const dist::MeshShape shape = dist::validate_layout(cfg, world->size());
      dist::ProcessMesh mesh(*world, shape);   // tensor-parallel peers share micro-batches; DP/ZeRO over the data group
      auto backend = runtime::make_backend(device, static_cast<int>(cfg.backend.threads));
      train::DataParallelSync dp_sync(mesh.data(), *backend);
      train::ZeroSync zero_sync(mesh.data(), *backend);   // shards this rank's model shard (the trainer sets it)
      train::GradSync& sync = cfg.parallel.zero == 1 ? static_cast<train::GradSync&>(zero_sync) : dp_sync;
      train::RunOptions run;
      run.resume = opts->resume;
      run.force = opts->force;
      run.rank = world->rank();
      run.dp_rank = mesh.coord().data;
      run.dp_size = shape.data;
      run.grad_sync = shape.data > 1 ? &sync : nullptr;
      run.shard.tensor = &mesh.tensor();
      run.shard.sequence_parallel = cfg.parallel.sequence_parallel;
      run.pipeline = &mesh.pipeline();
      // The tensor x pipeline ranks of this data-parallel replica: a checkpoint gathers the model over them.
      std::unique_ptr<Comm> model_group;
      if (shape.tensor * shape.pipeline > 1) model_group = world->split(mesh.coord().data, world->rank());
      run.model_group = model_group.get();
      train::run_training(cfg, config::render_yaml(cfg), *backend, run);
    });
  });
}

}  // namespace primus::app
