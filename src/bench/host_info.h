// What a benchmark report or a preflight says about the machine: host, OS, CPU, memory, GPUs (from
// nvidia-smi, so no CUDA library is needed to describe them) and the environment variables that
// change performance. Everything degrades to empty fields where the information is not available.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace primus::bench {

struct GpuInfo {
  std::string name;            // "NVIDIA H100 80GB HBM3"
  int64_t memory_bytes = 0;    // total device memory
  std::string driver;          // driver version
  std::string uuid;
};

struct HostInfo {
  std::string hostname, os, kernel, cpu_model;
  int cpus = 0;                  // online logical CPUs
  int64_t memory_bytes = 0;      // MemTotal
  int64_t memory_available_bytes = 0;
  int64_t llc_bytes = 0;         // last-level cache of cpu0 (0 if unknown)
  int numa_nodes = 0;
  bool in_container = false;
  std::string slurm_job_id;      // empty outside a Slurm allocation
};

HostInfo host_info_collect();

// GPUs listed by nvidia-smi; empty where there is none (or no driver).
std::vector<GpuInfo> gpu_info_collect();

// Environment variables that matter for performance and communication that are set:
// NCCL_*, CUDA_*, OMP_*, OPENBLAS_*, UCX_*, OMPI_*, PMIX_RANK, SLURM_*, PRIMUS_*.
std::vector<std::pair<std::string, std::string>> perf_env_collect();

// Runs a command and returns its standard output ("" when it cannot run or fails).
std::string command_output(const std::string& command);

// This process's command line as typed (from /proc/self/cmdline), arguments quoted where needed.
std::string command_line();

// The preamble of every benchmark report: command, version, commit, UTC date, host, devices, env.
nlohmann::json preamble_collect(const std::string& command, const std::vector<std::string>& devices);

}  // namespace primus::bench
