// Host, GPU and environment description (see host_info.h). Reads /proc, /sys and nvidia-smi.
#include "bench/host_info.h"

#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "primus/version.h"

extern char** environ;

namespace primus::bench {
namespace {

std::string read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

// "32768K" -> bytes.
int64_t cache_size_parse(const std::string& s) {
  if (s.empty()) return 0;
  int64_t v = std::atoll(s.c_str());
  char u = s.back();
  if (u == 'K') v <<= 10;
  if (u == 'M') v <<= 20;
  return v;
}

int64_t meminfo_bytes(const std::string& key) {
  std::ifstream f("/proc/meminfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::atoll(line.c_str() + key.size() + 1) * 1024;
  }
  return 0;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

}  // namespace

std::string command_output(const std::string& command) {
  std::FILE* p = popen((command + " 2>/dev/null").c_str(), "r");
  if (!p) return {};
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int rc = pclose(p);
  return rc == 0 ? out : std::string{};
}

HostInfo host_info_collect() {
  HostInfo h;
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) == 0) h.hostname = name.data();
  utsname u{};
  if (uname(&u) == 0) h.kernel = fmt::format("{} {} {}", u.sysname, u.release, u.machine);
  std::ifstream osr("/etc/os-release");
  for (std::string line; std::getline(osr, line);) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      h.os = line.substr(12);
      if (h.os.size() >= 2 && h.os.front() == '"') h.os = h.os.substr(1, h.os.size() - 2);
    }
  }
  std::ifstream cpu("/proc/cpuinfo");
  for (std::string line; std::getline(cpu, line);) {
    if (line.rfind("model name", 0) == 0) {
      h.cpu_model = trim(line.substr(line.find(':') + 1));
      break;
    }
  }
  h.cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  h.memory_bytes = meminfo_bytes("MemTotal");
  h.memory_available_bytes = meminfo_bytes("MemAvailable");
  for (int idx = 0; idx < 8; ++idx) {
    std::string dir = fmt::format("/sys/devices/system/cpu/cpu0/cache/index{}/", idx);
    if (!std::filesystem::exists(dir)) break;
    int64_t bytes = cache_size_parse(read_first_line(dir + "size"));
    if (bytes > h.llc_bytes) h.llc_bytes = bytes;
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/devices/system/node", ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind("node", 0) == 0 && n.size() > 4 && std::isdigit(static_cast<unsigned char>(n[4]))) ++h.numa_nodes;
  }
  h.in_container = std::filesystem::exists("/.dockerenv") || std::filesystem::exists("/run/.containerenv") ||
                   std::getenv("KUBERNETES_SERVICE_HOST") != nullptr;
  if (!h.in_container) {
    std::ifstream cg("/proc/1/cgroup");
    std::stringstream ss;
    ss << cg.rdbuf();
    std::string s = ss.str();
    h.in_container = s.find("docker") != s.npos || s.find("kubepods") != s.npos || s.find("containerd") != s.npos;
  }
  if (const char* job = std::getenv("SLURM_JOB_ID")) h.slurm_job_id = job;
  return h;
}

std::vector<GpuInfo> gpu_info_collect() {
  std::vector<GpuInfo> gpus;
  std::string out = command_output(
      "nvidia-smi --query-gpu=name,memory.total,driver_version,uuid --format=csv,noheader,nounits");
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::istringstream ls(line);
    for (std::string cell; std::getline(ls, cell, ',');) f.push_back(trim(cell));
    if (f.size() < 4) continue;
    gpus.push_back({f[0], std::atoll(f[1].c_str()) * (int64_t{1} << 20), f[2], f[3]});
  }
  return gpus;
}

std::vector<std::pair<std::string, std::string>> perf_env_collect() {
  static const char* kPrefixes[] = {"NCCL_", "CUDA_", "OMP_", "OPENBLAS_", "UCX_", "OMPI_MCA_", "PMIX_RANK",
                                    "SLURM_JOB", "SLURM_NTASKS", "PRIMUS_", "TORCH_NCCL", "NVIDIA_VISIBLE"};
  std::vector<std::pair<std::string, std::string>> out;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string key = kv.substr(0, eq);
    for (const char* p : kPrefixes) {
      if (key.rfind(p, 0) == 0) {
        out.emplace_back(key, kv.substr(eq + 1));
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string command_line() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::string out;
  size_t start = 0;
  while (start < all.size()) {
    size_t end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    std::string arg = all.substr(start, end - start);
    if (start == 0) arg = std::filesystem::path(arg).filename().string();
    bool plain = !arg.empty() && arg.find_first_of(" \t'\"$*?;&|<>()") == std::string::npos;
    out += (out.empty() ? "" : " ") + (plain ? arg : "'" + arg + "'");
    start = end + 1;
  }
  return out;
}

nlohmann::json preamble_collect(const std::string& command, const std::vector<std::string>& devices) {
  HostInfo h = host_info_collect();
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::array<char, 32> date{};
  std::strftime(date.data(), date.size(), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  nlohmann::json env = nlohmann::json::object();
  for (const auto& [k, v] : perf_env_collect()) env[k] = v;
  return {{"command", command},
          {"version", kVersion},
          {"commit", kGitCommit},
          {"date", date.data()},
          {"host", h.hostname},
          {"os", h.os},
          {"kernel", h.kernel},
          {"cpu", fmt::format("{} ({} CPUs)", h.cpu_model, h.cpus)},
          {"devices", devices},
          {"env", env}};
}

}  // namespace primus::bench
