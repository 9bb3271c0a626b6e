// primus: one program for LLM pre-training. The one top-level catch: primus::Error prints
// "error: ..." and "hint: ..." and exits 2 (usage/config) or 1 (runtime).
#include <cstdio>
#include <exception>

#include "apps/primus/commands.h"
#include "core/error.h"
#include "primus/version.h"

int main(int argc, char** argv) {
  CLI::App app{"Primus: train, preflight and benchmark large language models", "primus"};
  app.set_version_flag("--version", std::string("primus ") + primus::kVersion + " (commit " +
                                        primus::kGitCommit + ")");
  app.require_subcommand(1);
  app.fallthrough(false);
  primus::app::add_train_command(app);
  primus::app::add_generate_command(app);
  primus::app::add_config_command(app);
  primus::app::add_data_command(app);
  primus::app::add_benchmark_command(app);
  primus::app::add_preflight_command(app);
  primus::app::add_projection_command(app);
  primus::app::add_plot_command(app);
  primus::app::add_launch_command(app);
  primus::app::add_slurm_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const primus::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
