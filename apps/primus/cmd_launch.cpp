// `primus launch`: placeholder until its issue lands; says so and exits 1.
#include "apps/primus/commands.h"
#include "core/error.h"

namespace primus::app {

void add_launch_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("launch", "launch (not implemented yet)");
  cmd->callback([] { throw Error("primus launch is not implemented yet"); });
}

}  // namespace primus::app
