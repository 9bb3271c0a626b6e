// The preflight checks, grouped as the report prints them. Each group appends findings; none
// throws for a problem it finds (that is a fail finding). preflight_run() runs them all for one
// process; under several processes rank 0 gathers every rank's findings into one report.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/experiment.h"
#include "preflight/finding.h"

namespace primus {
class Comm;
namespace dist {
using primus::Comm;
}
}

namespace primus::preflight {

struct DiskSpace {
  uint64_t free_bytes = 0;    // available to this user
  uint64_t total_bytes = 0;
};

struct PreflightOptions {
  std::string config_path;                 // experiment file; empty = no config checks
  std::vector<std::string> overrides;      // --set key=value
  bool quick = false;                      // skip the performance measurements
  std::string device;                      // cpu | cuda; empty = the config's backend.device (else cpu)
  int64_t write_test_bytes = int64_t{64} << 20;   // storage write-bandwidth probe size
  // Free space of the filesystem holding a path; defaults to statvfs (tests substitute it).
  std::function<std::optional<DiskSpace>(const std::string& path)> disk_space;
};

void check_host(PreflightReport& report);
void check_devices(PreflightReport& report, const std::string& device);
void check_software(PreflightReport& report);
// env: the variables to judge (perf_env_collect() in production).
void check_environment(PreflightReport& report, const std::vector<std::pair<std::string, std::string>>& env, int world_size);
// dir: where checkpoints go (need not exist yet; its nearest existing parent is probed).
void check_storage(PreflightReport& report, const std::string& dir, uint64_t checkpoint_bytes, int64_t keep_last,
                   const PreflightOptions& options);
// Host GEMM and memory bandwidth (and the device GEMM for cuda); all-reduce correctness and bus
// bandwidth and pairwise send/recv when comm has several ranks.
void check_performance(PreflightReport& report, const std::string& device, dist::Comm* comm);
// Datasets present and well-formed, the tokenizer, and the memory projection against the device.
void check_config(PreflightReport& report, const config::ExperimentConfig& cfg, const std::string& device, int world_size);

// Everything, for this process; comm may be null (one process). Rank 0's return value holds every
// rank's findings; other ranks return their own.
PreflightReport preflight_run(const PreflightOptions& options, dist::Comm* comm);

}  // namespace primus::preflight
