// `primus plot RUN_DIR [--out FILE.svg]`: a run's loss, learning-rate and throughput curves as an
// SVG (default RUN_DIR/curves.svg).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/primus/commands.h"
#include "bench/run_plot.h"
#include "bench/svg_chart.h"

namespace primus::app {

void add_plot_command(CLI::App& app) {
  struct Args {
    std::string run_dir, out;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("plot", "draw a run's curves (loss, validation loss, lr, tokens/s) as SVG");
  cmd->add_option("run_dir", a->run_dir, "run directory (<workspace>/<exp_name>) or a metrics.jsonl")->required();
  cmd->add_option("--out", a->out, "SVG file to write; default RUN_DIR/curves.svg");
  cmd->callback([a] {
    const std::string metrics = bench::run_metrics_path(a->run_dir);
    std::string out = a->out;
    if (out.empty()) out = (std::filesystem::path(metrics).parent_path() / "curves.svg").string();
    bench::svg_write(bench::run_charts(metrics), out);
    std::printf("wrote %s\n", out.c_str());
  });
}

}  // namespace primus::app
