// `primus projection`: placeholder until its issue lands; says so and exits 1.
#include "apps/primus/commands.h"
#include "core/error.h"

namespace primus::app {

void add_projection_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("projection", "projection (not implemented yet)");
  cmd->callback([] { throw Error("primus projection is not implemented yet"); });
}

}  // namespace primus::app
