// Regression check against an earlier run: rows are matched on the report's key columns and the
// metric compared; a change worse than the tolerance (percent) in the metric's bad direction is a
// regression. Rows present on only one side are listed but are not regressions.
#pragma once
#include <string>
#include <vector>

#include "bench/report.h"

namespace primus::bench {

struct Regression {
  std::string key;        // "m=4096 n=4096 k=4096 dtype=bf16"
  double baseline = 0.0;  // baseline metric value
  double current = 0.0;   // this run's value
  double change_pct = 0.0;  // signed change, (current - baseline) / baseline * 100
};

struct BaselineComparison {
  std::vector<Regression> regressions;
  std::vector<std::string> unmatched;   // keys of current rows with no baseline row
  int compared = 0;                     // rows compared
};

// Uses current's key_columns, metric and direction. tolerance_pct >= 0.
BaselineComparison baseline_compare(const Report& current, const Report& baseline, double tolerance_pct);

// A readable list of the regressions, one per line (empty when there are none).
std::string baseline_summary(const BaselineComparison& cmp, const std::string& metric, double tolerance_pct);

}  // namespace primus::bench
