// `primus preflight [-c exp.yaml] [--quick] [--out report.md|.json]`: host, devices, software,
// environment, storage, performance and config checks; a summary table; exit 1 if anything failed.
// Under mpirun every rank checks itself and rank 0 prints one report for all ranks.
#include <cstdio>
#include <memory>

#include "apps/primus/commands.h"
#include "core/error.h"
#include "dist/comm.h"
#include "preflight/checks.h"

namespace primus::app {
namespace {

struct PreflightArgs {
  std::string config, out, device;
  std::vector<std::string> overrides;
  bool quick = false;
};

void preflight_command(const PreflightArgs& a) {
  preflight::PreflightOptions o;
  o.config_path = a.config;
  o.overrides = a.overrides;
  o.quick = a.quick;
  o.device = a.device;
  auto world = dist::make_world_comm(DeviceKind::kCPU);
  preflight::PreflightReport report = preflight::preflight_run(o, world.get());
  if (world->rank() != 0) return;
  std::fputs(report.table().c_str(), stdout);
  std::fflush(stdout);
  if (!a.out.empty()) {
    report.write(a.out);
    std::fprintf(stderr, "wrote %s\n", a.out.c_str());
  }
  if (report.failed())
    throw Error(fmt::format("preflight found {} problem(s)", report.count(preflight::Status::kFail)),
                "fix every 'fail' line above before launching");
}

}  // namespace

void add_preflight_command(CLI::App& app) {
  auto a = std::make_shared<PreflightArgs>();
  auto* cmd = app.add_subcommand("preflight", "check the machine, environment, storage and a config before a long job");
  cmd->add_option("-c,--config", a->config, "experiment file: validation, datasets, memory projection, checkpoint storage");
  cmd->add_option("--set", a->overrides, "override a config key (key=value), repeatable");
  cmd->add_flag("--quick", a->quick, "skip the GEMM, bandwidth and collective measurements");
  cmd->add_option("--device", a->device, "cpu or cuda; default: the config's backend.device");
  cmd->add_option("--out", a->out, "also write the report: FILE.md or FILE.json");
  cmd->callback([a] { preflight_command(*a); });
}

}  // namespace primus::app
