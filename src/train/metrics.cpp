// Throughput accounting, metrics.jsonl and the progress bar (see metrics.h).
#include "train/metrics.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/error.h"

namespace primus::train {

namespace {

struct PeakRow {
  const char* match;   // substring of the product name (case-insensitive)
  double bf16, fp32;   // dense TFLOP/s: tensor-core bf16, and fp32 (tf32 tensor cores where used)
  double fp8 = 0;      // dense fp8 (E4M3) tensor-core TFLOP/s with fp32 accumulation; 0: no fp8
};

// Longer, more specific names first.
constexpr PeakRow kPeaks[] = {
    {"gh200", 989, 494, 1979},  {"h200", 989, 494, 1979},   {"h100 pcie", 756, 378, 1513}, {"h100 nvl", 835, 418, 1671},
    {"h100", 989, 494, 1979},   {"h800", 989, 494, 1979},   {"b200", 2250, 1100, 4500},    {"b100", 1750, 875, 3500},
    {"a100", 312, 156},         {"a800", 312, 156},         {"l40s", 362, 183, 733},       {"l4", 121, 60, 242},
    {"a10g", 70, 35},           {"v100", 125, 15.7},        {"rtx 4090", 165, 82, 330},    {"rtx 3090", 71, 35},
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// CPU peak: threads x clock x fp32 FLOP per cycle (2 FMA pipes x vector lanes x 2).
double cpu_peak_tflops(int threads) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  double mhz = 0;
  bool avx512 = false, avx2 = false;
  while (std::getline(in, line)) {
    if (mhz == 0 && line.rfind("cpu MHz", 0) == 0) mhz = std::atof(line.substr(line.find(':') + 1).c_str());
    if (line.rfind("flags", 0) == 0) {
      avx512 = line.find(" avx512f") != std::string::npos;
      avx2 = line.find(" avx2") != std::string::npos && line.find(" fma") != std::string::npos;
    }
  }
  if (mhz <= 0) return 0;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const double flops_per_cycle = avx512 ? 64 : avx2 ? 32 : 8;
  return threads * mhz * 1e6 * flops_per_cycle / 1e12;
}

}  // namespace

double peak_tflops(std::string_view device, DType compute, int cpu_threads) {
  std::string name = lower(device);
  if (name == "cpu" || name.rfind("cpu", 0) == 0) return cpu_peak_tflops(cpu_threads);
  for (const auto& row : kPeaks)
    if (name.find(row.match) != std::string::npos) return compute == DType::kF32 ? row.fp32 : row.bf16;
  return 0;
}

double peak_tflops_fp8(std::string_view device) {
  std::string name = lower(device);
  for (const auto& row : kPeaks)
    if (name.find(row.match) != std::string::npos) return row.fp8;
  return 0;
}

std::string device_product_name(std::string_view backend_name) {
  if (backend_name.rfind("cuda", 0) != 0) return "cpu";
  // The NVIDIA driver lists each GPU with a "Model:" line; enough to pick a peak.
  std::error_code ec;
  for (const auto& dir : std::filesystem::directory_iterator("/proc/driver/nvidia/gpus", ec)) {
    std::ifstream in(dir.path() / "information");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("Model:", 0) == 0) {
        auto pos = line.find_first_not_of(" \t", 6);
        return pos == std::string::npos ? std::string() : line.substr(pos);
      }
  }
  return std::string(backend_name);
}

Throughput throughput(double tokens, double seconds, double flops_per_token, double peak) {
  Throughput t;
  if (seconds <= 0) return t;
  t.tokens_per_s = tokens / seconds;
  t.tflops = t.tokens_per_s * flops_per_token / 1e12;
  t.mfu = peak > 0 ? t.tflops / peak : 0;
  return t;
}

size_t process_peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return static_cast<size_t>(std::atoll(line.c_str() + 6)) * 1024;
  return 0;
}

double process_age_seconds() {
  std::ifstream stat("/proc/self/stat"), up("/proc/uptime");
  std::string line;
  double uptime = 0;
  if (!std::getline(stat, line) || !(up >> uptime)) return -1;
  // Field 22 (starttime, clock ticks since boot) counts from after the ")" that ends field 2.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
    if (i == 22) return uptime - std::stod(field) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return -1;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) { bytes /= 1024; ++u; }
  if (u == 0) return fmt::format("{:.0f}{}", bytes, units[u]);
  return fmt::format("{:.1f}{}", bytes, units[u]);
}

std::string format_duration(double seconds) {
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

MetricsWriter::MetricsWriter(const std::string& path) {
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) throw Error(fmt::format("cannot open {} for writing", path));
}

MetricsWriter::~MetricsWriter() {
  if (file_) std::fclose(file_);
}

void MetricsWriter::write(const nlohmann::json& record) {
  if (!file_) return;
  std::string line = record.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

ProgressBar::ProgressBar(std::string_view mode, int64_t total_steps) : total_(total_steps) {
  enabled_ = mode == "on" || (mode == "auto" && ::isatty(STDERR_FILENO));
}

void ProgressBar::update(int64_t step, double seconds_per_step, std::string_view suffix) {
  if (!enabled_) return;
  constexpr int kWidth = 30;
  const double frac = total_ > 0 ? std::min(1.0, static_cast<double>(step) / static_cast<double>(total_)) : 0;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>';
  bar.resize(kWidth, ' ');
  // A moving average keeps the ETA steady when single steps are noisy (evaluation, checkpoints).
  avg_step_s_ = avg_step_s_ > 0 ? 0.9 * avg_step_s_ + 0.1 * seconds_per_step : seconds_per_step;
  const double eta = avg_step_s_ * static_cast<double>(std::max<int64_t>(0, total_ - step));
  line_ = fmt::format("step {}/{} [{}] {:3.0f}% ETA {} | {}", step, total_, bar, 100 * frac,
                      format_duration(eta), suffix);
  redraw();
}

void ProgressBar::clear() {
  if (enabled_) std::fputs("\r\033[K", stderr);
}

void ProgressBar::redraw() {
  if (!enabled_ || line_.empty()) return;
  std::fprintf(stderr, "\r\033[K%s", line_.c_str());
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (enabled_ && !line_.empty()) std::fputs("\n", stderr);
  line_.clear();
}

}  // namespace primus::train
