// Run directory creation and the refusal to overwrite an existing run (see run_dir.h).
#include "config/run_dir.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace primus::config {
namespace fs = std::filesystem;
namespace {

bool has_previous_run(const RunDir& dir) {
  std::error_code ec;
  if (fs::exists(fs::path(dir.root) / "config.yaml", ec) || fs::exists(dir.metrics, ec)) return true;
  return fs::is_directory(dir.checkpoints, ec) && !fs::is_empty(dir.checkpoints, ec);
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) throw Error(fmt::format("cannot create directory {}: {}", path, ec.message()), "check the workspace path and its permissions");
}

}  // namespace

RunDir run_dir_paths(const ExperimentConfig& cfg) {
  fs::path root = fs::path(cfg.workspace) / cfg.exp_name;
  return RunDir{.root = root.string(),
                .logs = (root / "logs").string(),
                .checkpoints = (root / "checkpoints").string(),
                .metrics = (root / "metrics.jsonl").string()};
}

std::string run_dir_log_file(const RunDir& dir, int rank) {
  return (fs::path(dir.logs) / fmt::format("rank{}.log", rank)).string();
}

RunDir prepare_run_dir(const ExperimentConfig& cfg, const std::string& resolved_yaml, bool resume, bool force, int rank) {
  RunDir dir = run_dir_paths(cfg);
  if (rank != 0) {
    make_dirs(dir.logs);
    return dir;
  }
  if (has_previous_run(dir) && !resume) {
    if (!force)
      throw usage_error(fmt::format("run directory {} already holds a run", dir.root),
                        "pass --resume to continue it, --force to start over (deleting it), or choose another exp_name");
    std::error_code ec;
    for (const std::string& old : {(fs::path(dir.root) / "config.yaml").string(), dir.logs, dir.checkpoints, dir.metrics}) {
      fs::remove_all(old, ec);
      if (ec) throw Error(fmt::format("cannot remove {}: {}", old, ec.message()));
    }
  }
  make_dirs(dir.logs);
  make_dirs(dir.checkpoints);
  const std::string config_path = (fs::path(dir.root) / "config.yaml").string();
  std::ofstream out(config_path, std::ios::trunc);
  out << resolved_yaml;
  if (!out) throw Error(fmt::format("cannot write {}", config_path), "check the disk space and permissions");
  return dir;
}

}  // namespace primus::config
