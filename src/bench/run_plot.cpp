// Training curves from metrics.jsonl (see run_plot.h).
#include "bench/run_plot.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace primus::bench {

std::string run_metrics_path(const std::string& run_dir) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(run_dir)) return run_dir;
  for (const char* rel : {"metrics.jsonl", "logs/metrics.jsonl"}) {
    fs::path p = fs::path(run_dir) / rel;
    if (fs::is_regular_file(p)) return p.string();
  }
  throw Error(fmt::format("no metrics.jsonl in {}", run_dir), "give a run directory (<workspace>/<exp_name>) that has trained");
}

std::vector<Chart> run_charts(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error(fmt::format("cannot open {}", path));
  Series train{"train loss", {}}, valid{"validation loss", {}}, lr{"learning rate", {}}, tps{"tokens/s", {}};
  int lineno = 0, steps = 0;
  for (std::string line; std::getline(f, line);) {
    ++lineno;
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      // A run killed mid-write leaves a partial last line; anything else is corrupt.
      if (f.peek() == EOF) break;
      throw Error(fmt::format("{}:{}: not a JSON record", path, lineno), "metrics.jsonl holds one JSON object per line");
    }
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number()) continue;
    const double step = j["step"].get<double>();
    ++steps;
    auto add = [&](Series& s, const char* key) {
      if (j.contains(key) && j[key].is_number()) s.points.emplace_back(step, j[key].get<double>());
    };
    add(train, "loss");
    add(valid, "valid_loss");
    add(lr, "lr");
    add(tps, "tokens_per_s");
  }
  if (steps == 0) throw Error(fmt::format("{} has no step records", path), "has the run logged a step yet?");
  std::vector<Chart> charts;
  Chart loss{"Loss", "step", "loss", false, false, {}};
  if (!train.points.empty()) loss.series.push_back(std::move(train));
  if (!valid.points.empty()) loss.series.push_back(std::move(valid));
  charts.push_back(std::move(loss));
  charts.push_back({"Learning rate", "step", "lr", false, false, {std::move(lr)}});
  charts.push_back({"Throughput", "step", "tokens/s", false, false, {std::move(tps)}});
  return charts;
}

}  // namespace primus::bench
