// Baseline comparison (see baseline.h).
#include "bench/baseline.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "core/error.h"

namespace primus::bench {
namespace {

std::string row_key(const nlohmann::json& row, const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) {
    const auto& v = row.value(k, nlohmann::json());
    out += fmt::format("{}{}={}", out.empty() ? "" : " ", k, v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out;
}

}  // namespace

BaselineComparison baseline_compare(const Report& current, const Report& baseline, double tolerance_pct) {
  PRIMUS_CHECK(tolerance_pct >= 0.0, "negative tolerance");
  if (current.metric.empty() || current.key_columns.empty())
    throw usage_error(fmt::format("benchmark {} has no metric to compare with a baseline", current.title));
  if (!baseline.title.empty() && baseline.title != current.title)
    throw usage_error(fmt::format("the baseline is a '{}' benchmark, this run is '{}'", baseline.title, current.title),
                      "compare runs of the same benchmark");
  std::map<std::string, double> base;
  for (const auto& row : baseline.rows) {
    const auto& v = row.value(current.metric, nlohmann::json());
    if (v.is_number()) base[row_key(row, current.key_columns)] = v.get<double>();
  }
  BaselineComparison cmp;
  for (const auto& row : current.rows) {
    const auto& v = row.value(current.metric, nlohmann::json());
    if (!v.is_number()) continue;
    std::string key = row_key(row, current.key_columns);
    auto it = base.find(key);
    if (it == base.end()) {
      cmp.unmatched.push_back(key);
      continue;
    }
    ++cmp.compared;
    double b = it->second, c = v.get<double>();
    double change = b != 0.0 ? (c - b) / std::fabs(b) * 100.0 : (c == b ? 0.0 : (c > b ? INFINITY : -INFINITY));
    bool worse = current.higher_is_better ? change < -tolerance_pct : change > tolerance_pct;
    if (worse) cmp.regressions.push_back({key, b, c, change});
  }
  return cmp;
}

std::string baseline_summary(const BaselineComparison& cmp, const std::string& metric, double tolerance_pct) {
  std::string out;
  for (const auto& r : cmp.regressions)
    out += fmt::format("regression: {}: {} {:.4g} -> {:.4g} ({:+.1f}%, tolerance {}%)\n", r.key, metric, r.baseline,
                       r.current, r.change_pct, tolerance_pct);
  for (const auto& k : cmp.unmatched) out += fmt::format("not in baseline: {}\n", k);
  return out;
}

}  // namespace primus::bench
