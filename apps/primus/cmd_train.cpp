// `primus train -c exp.yaml [--set k=v] [--resume | --force] [--init-from DIR]`: loads and
// validates the experiment, makes the backend and runs train::run_training. Under mpirun or srun
// every rank runs this: the ranks form one data-parallel group (dist::DataParallel behind the
// trainer's GradSync hook; with parallel.zero = 1 a dist::ZeroOptimizer does the update), and a
// rank that fails takes the others down naming itself.
#include <cmath>
#include <memory>

#include "apps/primus/commands.h"
#include "config/loader.h"
#include "core/error.h"
#include "core/log.h"
#include "dist/data_parallel.h"
#include "dist/mesh.h"
#include "models/model.h"
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

// The trainer's data-parallel hook over a dist::DataParallel.
class DataParallelSync final : public train::GradSync {
 public:
  explicit DataParallelSync(dist::Comm& dp) : dp_(dp) {}
  void average_grads(Tensor grads) override { dp_.all_reduce_grads(grads); }
  double average(double value) override { return dp_.average(static_cast<float>(value)); }

 private:
  dist::DataParallel dp_;
};

// ZeRO-1 behind the same hook: gradients reduce-scattered, AdamW on this rank's shard, parameters
// all-gathered. The optimizer is planned on the first gradients (P is the model's buffer size).
class ZeroSync final : public train::GradSync {
 public:
  ZeroSync(dist::Comm& dp, Backend& backend, std::vector<ParamSegment> segments)
      : dp_(dp), avg_(dp), backend_(backend), segments_(std::move(segments)) {}
  void average_grads(Tensor grads) override { zero(grads.numel()).reduce_scatter_grads(grads); }
  double average(double value) override { return avg_.average(static_cast<float>(value)); }
  bool shards_optimizer() const override { return true; }
  double sharded_grad_norm() override { return std::sqrt(static_cast<double>(zero_->grad_norm_squared())); }
  void sharded_step(Tensor params, const AdamWArgs& args) override { zero(params.numel()).step(params, Tensor{}, args); }
  void gather_optimizer_state(Tensor m, Tensor v) override { zero(m.numel()).gather_state(m, v); }
  void load_optimizer_state(Tensor m, Tensor v) override { zero(m.numel()).load_state(m, v); }

 private:
  dist::ZeroOptimizer& zero(int64_t P) {
    if (!zero_) zero_ = std::make_unique<dist::ZeroOptimizer>(dp_, backend_, P, segments_);
    return *zero_;
  }
  dist::Comm& dp_;
  dist::DataParallel avg_;
  Backend& backend_;
  std::vector<ParamSegment> segments_;
  std::unique_ptr<dist::ZeroOptimizer> zero_;
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
      const dist::MeshShape mesh = dist::validate_layout(cfg, world->size());
      if (mesh.tensor > 1 || mesh.pipeline > 1)
        throw usage_error(fmt::format("parallel.tensor = {} and parallel.pipeline = {}: only data parallelism is "
                                      "implemented so far", mesh.tensor, mesh.pipeline),
                          "set parallel.tensor=1 and parallel.pipeline=1");
      auto backend = runtime::make_backend(device, static_cast<int>(cfg.backend.threads));
      DataParallelSync dp_sync(*world);
      ZeroSync zero_sync(*world, *backend, train::plan_decay_segments(models::plan_params(cfg.model), cfg.optim));
      train::GradSync& sync = cfg.parallel.zero == 1 ? static_cast<train::GradSync&>(zero_sync) : dp_sync;
      train::RunOptions run;
      run.resume = opts->resume;
      run.force = opts->force;
      run.dp_rank = world->rank();
      run.dp_size = world->size();
      run.grad_sync = world->size() > 1 ? &sync : nullptr;
      train::run_training(cfg, config::render_yaml(cfg), *backend, run);
    });
  });
}

}  // namespace primus::app
