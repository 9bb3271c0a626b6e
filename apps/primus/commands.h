// Each subcommand lives in its own thin file and registers itself on the top-level CLI11 app.
// Command callbacks throw primus::Error on failure; main() is the one place that catches.
#pragma once
#include <CLI/CLI.hpp>

namespace primus::app {

void add_train_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_config_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_benchmark_command(CLI::App& app);
void add_preflight_command(CLI::App& app);
void add_projection_command(CLI::App& app);
void add_plot_command(CLI::App& app);
void add_launch_command(CLI::App& app);
void add_slurm_command(CLI::App& app);

}  // namespace primus::app
