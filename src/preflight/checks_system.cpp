// Host, device, software and environment checks (see checks.h).
#include <mpi.h>

#include <filesystem>
#include <fmt/format.h>
#include <thread>

#include "bench/host_info.h"
#include "preflight/checks.h"
#include "train/metrics.h"

namespace primus::preflight {
namespace {

using train::format_bytes;

std::string read_text(const std::string& path) {
  std::string out = bench::command_output("cat '" + path + "'");
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Newest versioned file name of a library in the usual folders ("libnccl.so.2.21.5" -> "2.21.5").
std::string library_version(const std::string& stem) {
  std::string best;
  for (const char* dir : {"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu"}) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      std::string n = e.path().filename().string();
      std::string prefix = stem + ".so.";
      if (n.rfind(prefix, 0) == 0 && n.size() - prefix.size() > best.size()) best = n.substr(prefix.size());
    }
  }
  return best;
}

// "MAJOR.MINOR.PATCH" from the #defines of a header, e.g. NCCL_MAJOR in nccl.h; "" when absent.
std::string header_version(const std::vector<std::string>& headers, const std::string& prefix, const char* const names[3]) {
  for (const auto& h : headers) {
    const std::string text = read_text(h);
    if (text.empty()) continue;
    std::string v;
    for (int i = 0; i < 3; ++i) {
      const std::string key = "#define " + prefix + names[i];
      auto p = text.find(key + " ");
      if (p == std::string::npos) p = text.find(key + "\t");
      if (p == std::string::npos) return v;
      v += (i ? "." : "") + std::to_string(std::atol(text.c_str() + p + key.size()));
    }
    return v;
  }
  return {};
}

}  // namespace

void check_host(PreflightReport& r) {
  const bench::HostInfo h = bench::host_info_collect();
  r.add("host", "os", Status::kPass, fmt::format("{}; {}", h.os.empty() ? "unknown OS" : h.os, h.kernel));
  r.add("host", "cpu", Status::kPass, fmt::format("{} ({} logical CPUs)", h.cpu_model, h.cpus));
  const double avail = static_cast<double>(h.memory_available_bytes), total = static_cast<double>(h.memory_bytes);
  if (total > 0 && avail < 0.1 * total)
    r.add("host", "memory", Status::kWarn, fmt::format("{} of {} available", format_bytes(avail), format_bytes(total)),
          "other processes hold most of the memory; look for leftovers of earlier jobs");
  else
    r.add("host", "memory", Status::kPass, fmt::format("{} of {} available", format_bytes(avail), format_bytes(total)));
  r.add("host", "numa", Status::kPass, h.numa_nodes > 0 ? fmt::format("{} NUMA node(s)", h.numa_nodes) : "no NUMA information");
  r.add("host", "container", Status::kPass, h.in_container ? "inside a container" : "not in a container");
  r.add("host", "slurm", Status::kPass, h.slurm_job_id.empty() ? "not in a Slurm allocation" : "Slurm job " + h.slurm_job_id);
}

void check_devices(PreflightReport& r, const std::string& device) {
  const auto gpus = bench::gpu_info_collect();
  const bool want_cuda = device.rfind("cuda", 0) == 0;
  if (gpus.empty()) {
    if (want_cuda)
      r.add("devices", "gpus", Status::kFail, "backend.device is cuda but nvidia-smi lists no GPU",
            "run on a GPU machine, check the driver (nvidia-smi), or set backend.device=cpu");
    else
      r.add("devices", "gpus", Status::kPass, "no GPU (the CPU backend is used)");
    return;
  }
  bool alike = true;
  for (const auto& g : gpus) alike = alike && g.name == gpus[0].name && g.memory_bytes == gpus[0].memory_bytes;
  r.add("devices", "gpus", alike ? Status::kPass : Status::kWarn,
        fmt::format("{} x {} ({}), driver {}", gpus.size(), gpus[0].name, format_bytes(static_cast<double>(gpus[0].memory_bytes)),
                    gpus[0].driver),
        alike ? "" : "the GPUs differ; the slowest sets the pace of every collective");
  std::string apps = bench::command_output("nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader");
  while (!apps.empty() && apps.back() == '\n') apps.pop_back();
  if (!apps.empty()) {
    std::replace(apps.begin(), apps.end(), '\n', ';');
    r.add("devices", "other processes", Status::kWarn, "processes hold a GPU: " + apps,
          "stop them or pick free GPUs with CUDA_VISIBLE_DEVICES");
  } else {
    r.add("devices", "other processes", Status::kPass, "no other process holds a GPU");
  }
}

void check_software(PreflightReport& r) {
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  MPI_Get_library_version(mpi, &len);
  std::string mpi_v(mpi, static_cast<size_t>(len));
  if (auto nl = mpi_v.find_first_of("\n,"); nl != std::string::npos) mpi_v.resize(nl);
  r.add("software", "mpi", Status::kPass, mpi_v);
  std::string cuda = read_text("/usr/local/cuda/version.json");
  if (auto p = cuda.find("\"cuda\""); p != std::string::npos) {
    auto v = cuda.find("\"version\"", p);
    auto q1 = cuda.find('"', cuda.find(':', v) + 1), q2 = cuda.find('"', q1 + 1);
    cuda = v == std::string::npos ? "" : cuda.substr(q1 + 1, q2 - q1 - 1);
  } else {
    cuda.clear();
  }
  if (cuda.empty()) {
    const std::string nvcc = bench::command_output("/usr/local/cuda/bin/nvcc --version");
    if (auto p = nvcc.find("release "); p != std::string::npos) cuda = nvcc.substr(p + 8, nvcc.find(',', p) - p - 8);
  }
  r.add("software", "cuda toolkit", Status::kPass, cuda.empty() ? "not found (CPU only)" : "CUDA " + cuda);
  static const char* const kCublas[3] = {"MAJOR", "MINOR", "PATCH"};
  static const char* const kNccl[3] = {"MAJOR", "MINOR", "PATCH"};
  std::string cublas = header_version({"/usr/local/cuda/include/cublas_api.h"}, "CUBLAS_VER_", kCublas);
  std::string nccl = header_version({"/usr/local/cuda/include/nccl.h", "/usr/include/nccl.h"}, "NCCL_", kNccl);
  if (cublas.empty()) cublas = library_version("libcublasLt");
  if (nccl.empty()) nccl = library_version("libnccl");
  r.add("software", "cublas", Status::kPass, cublas.empty() ? "not found" : "cuBLASLt " + cublas);
  r.add("software", "nccl", Status::kPass, nccl.empty() ? "not found" : "NCCL " + nccl);
}

void check_environment(PreflightReport& r, const std::vector<std::pair<std::string, std::string>>& env, int world_size) {
  struct Rule {
    const char* key;
    const char* bad;   // value that is suspicious ("" = any value)
    Status status;
    const char* why;
    const char* hint;
  };
  static const Rule kRules[] = {
      {"CUDA_LAUNCH_BLOCKING", "1", Status::kWarn, "serializes every kernel launch", "unset it outside debugging"},
      {"NCCL_DEBUG", "TRACE", Status::kWarn, "traces every NCCL call and slows collectives", "use NCCL_DEBUG=WARN or INFO"},
      {"NCCL_P2P_DISABLE", "1", Status::kWarn, "disables NVLink/PCIe peer transfers inside a node", "unset it unless peer access is broken"},
      {"NCCL_SHM_DISABLE", "1", Status::kWarn, "disables shared-memory transport inside a node", "unset it"},
      {"NCCL_IB_DISABLE", "1", Status::kWarn, "disables InfiniBand: multi-node traffic falls back to TCP", "unset it on an InfiniBand cluster"},
      {"NCCL_ALGO", "", Status::kWarn, "overrides NCCL's algorithm choice", "unset it unless you have measured the gain"},
      {"NCCL_PROTO", "", Status::kWarn, "overrides NCCL's protocol choice", "unset it unless you have measured the gain"},
      {"NCCL_NVLS_ENABLE", "1", Status::kWarn, "NVLink SHARP multicast may not be available on this system", "set NCCL_NVLS_ENABLE=0 if collectives hang"},
      {"NCCL_BLOCKING_WAIT", "1", Status::kWarn, "blocks the host on every collective", "unset it"},
  };
  int judged = 0;
  for (const auto& [key, value] : env) {
    for (const Rule& rule : kRules) {
      if (key != rule.key || (*rule.bad && value != rule.bad)) continue;
      ++judged;
      r.add("environment", key, rule.status, fmt::format("{}={}: {}", key, value, rule.why), rule.hint);
    }
    if (key == "CUDA_VISIBLE_DEVICES" && !value.empty())
      r.add("environment", key, Status::kPass, fmt::format("{}={}: restricts the visible GPUs", key, value));
    if (key == "CUDA_VISIBLE_DEVICES" && value.empty())
      r.add("environment", key, Status::kFail, "CUDA_VISIBLE_DEVICES is set but empty: no GPU is visible",
            "unset it or list the GPUs to use"), ++judged;
    if (key == "NCCL_SOCKET_IFNAME" && value.rfind("lo", 0) == 0 && world_size > 1)
      r.add("environment", key, Status::kWarn, "NCCL_SOCKET_IFNAME=lo only works within one node",
            "name the cluster network interface"), ++judged;
    if ((key == "OMP_NUM_THREADS" || key == "OPENBLAS_NUM_THREADS")) {
      const long n = std::atol(value.c_str());
      const long cores = static_cast<long>(std::thread::hardware_concurrency());
      if (n > cores && cores > 0)
        r.add("environment", key, Status::kWarn, fmt::format("{}={} exceeds the {} CPUs", key, value, cores),
              "oversubscribed threads slow every CPU op; use at most one per core"), ++judged;
    }
  }
  std::string listed;
  for (const auto& [key, value] : env)
    if (key.rfind("NCCL_", 0) == 0) listed += (listed.empty() ? "" : " ") + key + "=" + value;
  r.add("environment", "nccl variables", Status::kPass, listed.empty() ? "no NCCL_* variable set" : listed);
  (void)judged;
}

}  // namespace primus::preflight
