// `primus plot`: placeholder until its issue lands; says so and exits 1.
#include "apps/primus/commands.h"
#include "core/error.h"

namespace primus::app {

void add_plot_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("plot", "plot (not implemented yet)");
  cmd->callback([] { throw Error("primus plot is not implemented yet"); });
}

}  // namespace primus::app
