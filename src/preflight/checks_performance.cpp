// Performance checks (see checks.h): GEMM TFLOP/s and memory bandwidth against the device's peak,
// all-reduce correctness and bus bandwidth over every rank, pairwise send/recv from rank 0 to find
// a slow link.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "bench/collective.h"
#include "bench/gemm.h"
#include "core/error.h"
#include "core/timer.h"
#include "dist/comm.h"
#include "preflight/checks.h"
#include "runtime/backends.h"
#include "train/metrics.h"

namespace primus::preflight {
namespace {

// Spec memory bandwidth in TB/s of known GPUs (substring of the product name, lower case).
double device_bandwidth_tbs(std::string name) {
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  struct Row { const char* match; double tbs; };
  static const Row kRows[] = {{"h200", 4.8}, {"h100 pcie", 2.0}, {"h100", 3.35}, {"a100", 2.0}, {"b200", 8.0}, {"l40s", 0.86}};
  for (const Row& r : kRows)
    if (name.find(r.match) != std::string::npos) return r.tbs;
  return 0;
}

void gemm_check(PreflightReport& r, Backend* backend, const std::string& product) {
  const bool device = backend != nullptr;
  const int64_t s = device ? 8192 : 1024;
  bench::GemmCase c{s, s, s, false, true, device ? DType::kBF16 : DType::kF32};
  bench::GemmOptions o{1, device ? 20 : 3, 0, true};
  try {
    bench::GemmResult g = bench::gemm_run(c, o, backend);
    const double peak = train::peak_tflops(product, c.dtype);
    const double frac = peak > 0 ? g.tflops / peak : 0;
    const std::string what = fmt::format("{}^3 {} GEMM: {:.2f} TFLOP/s{}", s, dtype_name(c.dtype), g.tflops,
                                         peak > 0 ? fmt::format(" ({:.0f}% of {:.3g} peak)", 100 * frac, peak) : "");
    const double floor = device ? 0.5 : 0.05;
    r.add("performance", device ? "device gemm" : "host gemm", peak > 0 && frac < floor ? Status::kWarn : Status::kPass, what,
          device ? "below half of peak: check clocks (nvidia-smi -q -d CLOCK), power limits and other processes"
                 : "far below the CPU's estimated peak: the machine is busy or threads are oversubscribed");
  } catch (const Error& e) {
    r.add("performance", device ? "device gemm" : "host gemm", Status::kFail, e.what(), e.hint());
  }
}

void host_bandwidth_check(PreflightReport& r) {
  const size_t bytes = size_t{256} << 20;
  std::vector<char> a(bytes, 1), b(bytes, 2);
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    Timer t;
    std::memcpy(b.data(), a.data(), bytes);
    best = std::min(best, t.seconds());
    a[static_cast<size_t>(i)] = b[bytes - 1];  // keep the copy observable
  }
  r.add("performance", "host memory bandwidth", Status::kPass,
        fmt::format("memcpy {}/s (bytes read + written)", train::format_bytes(2.0 * static_cast<double>(bytes) / best)));
}

void device_bandwidth_check(PreflightReport& r, Backend& be, const std::string& product) {
  const size_t bytes = size_t{1} << 30;
  Buffer a = be.alloc(bytes), b = be.alloc(bytes);
  Tensor ta = a.as(DType::kF32, {static_cast<int64_t>(bytes / 4)}), tb = b.as(DType::kF32, {static_cast<int64_t>(bytes / 4)});  // (n)
  be.copy(tb, ta);
  be.synchronize();
  Timer t;
  const int iters = 10;
  for (int i = 0; i < iters; ++i) be.copy(tb, ta);
  be.synchronize();
  const double tbs = 2.0 * static_cast<double>(bytes) * iters / t.seconds() / 1e12;
  const double spec = device_bandwidth_tbs(product);
  r.add("performance", "device memory bandwidth", spec > 0 && tbs < 0.6 * spec ? Status::kWarn : Status::kPass,
        fmt::format("device copy {:.2f} TB/s{}", tbs, spec > 0 ? fmt::format(" (spec {:.2f} TB/s)", spec) : ""),
        "well below the specification: check clocks, ECC and other processes");
}

void collective_checks(PreflightReport& r, dist::Comm& comm) {
  auto host = runtime::make_backend("cpu", 1);
  bench::CollectiveSweep s{{bench::CollectiveOp::kAllReduce}, {int64_t{16} << 20}, 1, 5};
  int wrong = 0;
  bench::Report rep = bench::collective_report(s, comm, *host, &wrong);
  const auto& row = rep.rows.at(0);
  r.add("performance", "all_reduce", wrong ? Status::kFail : Status::kPass,
        fmt::format("{} ranks, 16MiB: {}, bus bandwidth {:.2f} GB/s (p50 {:.0f} us)", comm.size(),
                    wrong ? "WRONG RESULT" : "correct", row.value("busbw_gbps", 0.0), row.value("p50_us", 0.0)),
        "a rank computed a wrong sum: check that every rank runs the same binary and the network is healthy");
  // Pairwise send/recv: rank 0 ping-pongs with every other rank in turn.
  const int64_t n = int64_t{4} << 20;  // 16 MiB of fp32
  Buffer mem = host->alloc(static_cast<size_t>(n) * 4);
  Tensor t = mem.as(DType::kF32, {n});  // (n)
  std::vector<float> gbps(static_cast<size_t>(comm.size()), 0.0f);  // (ranks) rank 0's view of each link
  for (int peer = 1; peer < comm.size(); ++peer) {
    comm.barrier();
    if (comm.rank() == 0) {
      Timer tm;
      for (int i = 0; i < 3; ++i) comm.send(t, peer), comm.recv(t, peer);
      gbps[static_cast<size_t>(peer)] = static_cast<float>(6.0 * static_cast<double>(n) * 4 / tm.seconds() / 1e9);
    } else if (comm.rank() == peer) {
      for (int i = 0; i < 3; ++i) comm.recv(t, 0), comm.send(t, 0);
    }
  }
  if (comm.rank() != 0 || comm.size() < 2) return;
  std::vector<float> sorted(gbps.begin() + 1, gbps.end());
  std::sort(sorted.begin(), sorted.end());
  const float median = sorted[sorted.size() / 2];
  for (int peer = 1; peer < comm.size(); ++peer) {
    const float v = gbps[static_cast<size_t>(peer)];
    r.add("performance", fmt::format("link 0-{}", peer), v < 0.5f * median ? Status::kWarn : Status::kPass,
          fmt::format("send/recv {:.2f} GB/s (median of links {:.2f})", v, median),
          "this link is less than half as fast as the others: check its NIC, cable or NUMA placement");
  }
}

}  // namespace

void check_performance(PreflightReport& r, const std::string& device, dist::Comm* comm) {
  gemm_check(r, nullptr, "cpu");
  host_bandwidth_check(r);
  if (device.rfind("cuda", 0) == 0) {
    try {
      auto be = runtime::make_backend(device);
      const std::string product = train::device_product_name(be->name());
      gemm_check(r, be.get(), product);
      device_bandwidth_check(r, *be, product);
    } catch (const Error& e) {
      r.add("performance", "device", Status::kFail, e.what(), e.hint());
    }
  }
  if (comm && comm->size() > 1) collective_checks(r, *comm);
  else r.add("performance", "collectives", Status::kSkip, "one process: no collective to check", "run under mpirun to check every rank");
}

}  // namespace primus::preflight
