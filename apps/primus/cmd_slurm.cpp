// `primus slurm`: placeholder until its issue lands; says so and exits 1.
#include "apps/primus/commands.h"
#include "core/error.h"

namespace primus::app {

void add_slurm_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("slurm", "slurm (not implemented yet)");
  cmd->callback([] { throw Error("primus slurm is not implemented yet"); });
}

}  // namespace primus::app
