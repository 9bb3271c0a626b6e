// Benchmark outputs and the baseline check (see output.h).
#include "bench/output.h"

#include <fmt/format.h>

#include <cstdio>

#include "bench/baseline.h"
#include "bench/host_info.h"
#include "core/error.h"
#include "train/metrics.h"

namespace primus::bench {

void report_finish(const Report& report, const OutputOptions& o, const std::vector<Chart>& charts) {
  std::fputs(report_table(report).c_str(), stdout);
  std::fflush(stdout);
  for (const auto& path : o.out) {
    report_write(report, path);
    std::fprintf(stderr, "wrote %s\n", path.c_str());
  }
  if (!o.plot.empty()) {
    svg_write(charts, o.plot);
    std::fprintf(stderr, "wrote %s\n", o.plot.c_str());
  }
  if (o.baseline.empty()) return;
  if (o.tolerance_pct < 0) throw usage_error("--tolerance must not be negative");
  Report base = report_read_jsonl(o.baseline);
  BaselineComparison cmp = baseline_compare(report, base, o.tolerance_pct);
  std::string summary = baseline_summary(cmp, report.metric, o.tolerance_pct);
  std::fputs(summary.c_str(), stderr);
  if (cmp.compared == 0)
    throw Error(fmt::format("no result matches a row of the baseline {}", o.baseline),
                "run the same benchmark with the same sizes as the baseline");
  if (!cmp.regressions.empty())
    throw Error(fmt::format("{} of {} results regressed by more than {}% against {}", cmp.regressions.size(), cmp.compared,
                            o.tolerance_pct, o.baseline),
                "see the regression lines above");
  std::fprintf(stderr, "baseline: %d results within %g%% of %s\n", cmp.compared, o.tolerance_pct, o.baseline.c_str());
}

std::vector<std::string> device_descriptions(const std::string& device, int cpu_threads) {
  if (device.rfind("cuda", 0) == 0) {
    std::vector<std::string> out;
    for (const auto& g : gpu_info_collect())
      out.push_back(fmt::format("{} ({}, driver {})", g.name, train::format_bytes(static_cast<double>(g.memory_bytes)), g.driver));
    if (out.empty()) out.push_back(device);
    return out;
  }
  HostInfo h = host_info_collect();
  return {fmt::format("cpu: {} ({} threads)", h.cpu_model, cpu_threads > 0 ? cpu_threads : h.cpus)};
}

}  // namespace primus::bench
