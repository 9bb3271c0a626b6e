// `primus projection memory -c exp.yaml [--world-size N] [--json]`: the per-rank memory projection
// (weights, gradients, optimizer state, activations under the parallel layout, ZeRO and recompute)
// and whether it fits the device.
#include <cstdio>
#include <memory>

#include "apps/primus/commands.h"
#include "bench/host_info.h"
#include "config/loader.h"
#include "core/error.h"
#include "preflight/memory_projection.h"

namespace primus::app {
namespace {

struct ProjectionArgs {
  std::string config;
  std::vector<std::string> overrides;
  int world_size = 0;
  bool json = false;
};

void memory_command(const ProjectionArgs& a) {
  const config::ExperimentConfig cfg = config::load_experiment(a.config, a.overrides);
  const preflight::MemoryProjection p = preflight::memory_project(cfg, a.world_size);
  size_t device_bytes = 0;
  std::string device_name;
  if (cfg.backend.device.rfind("cuda", 0) == 0) {
    auto gpus = bench::gpu_info_collect();
    if (!gpus.empty()) device_bytes = static_cast<size_t>(gpus[0].memory_bytes), device_name = gpus[0].name;
  } else {
    device_bytes = static_cast<size_t>(bench::host_info_collect().memory_available_bytes);
    device_name = "available host memory";
  }
  if (a.json) {
    nlohmann::json j = preflight::memory_projection_json(p);
    j["device"] = device_name;
    j["device_bytes"] = device_bytes;
    j["fits"] = device_bytes == 0 ? nlohmann::json() : nlohmann::json(p.total_bytes() <= device_bytes);
    std::puts(j.dump(2).c_str());
  } else {
    std::fputs(preflight::memory_projection_table(p, device_bytes, device_name).c_str(), stdout);
  }
  if (device_bytes > 0 && p.total_bytes() > device_bytes)
    throw Error("the projected memory does not fit the device",
                "lower train.micro_batch_size, set backend.recompute, parallel.zero=1, or shard with parallel.tensor/pipeline");
}

}  // namespace

void add_projection_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("projection", "projections of a config (memory)");
  cmd->require_subcommand(1);
  auto a = std::make_shared<ProjectionArgs>();
  auto* mem = cmd->add_subcommand("memory", "per-rank memory of a config and whether it fits the device");
  mem->add_option("-c,--config", a->config, "experiment file")->required();
  mem->add_option("--set", a->overrides, "override a config key (key=value), repeatable");
  mem->add_option("--world-size", a->world_size, "processes of the job; default tensor*pipeline");
  mem->add_flag("--json", a->json, "print JSON instead of a table");
  mem->callback([a] { memory_command(*a); });
}

}  // namespace primus::app
