// What every benchmark does with its report: the table on the terminal, --out FILE.{md,csv,jsonl}
// with the preamble, --plot FILE.svg, and --baseline FILE.jsonl --tolerance PCT, which throws
// primus::Error (exit 1) listing every regression after the outputs are written.
#pragma once
#include <string>
#include <vector>

#include "bench/report.h"
#include "bench/svg_chart.h"

namespace primus::bench {

struct OutputOptions {
  std::vector<std::string> out;   // report files (.md, .csv, .jsonl)
  std::string plot;               // SVG chart file
  std::string baseline;           // .jsonl report of an earlier run
  double tolerance_pct = 5.0;     // allowed drop of the metric before it counts as a regression
};

// Prints, writes and compares. charts: what --plot draws (ignored when plot is empty).
void report_finish(const Report& report, const OutputOptions& options, const std::vector<Chart>& charts);

// Devices for the preamble: "cpu: <model> (<n> threads)" or the GPUs nvidia-smi lists.
std::vector<std::string> device_descriptions(const std::string& device, int cpu_threads);

}  // namespace primus::bench
