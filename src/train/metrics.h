// Throughput accounting and metric outputs: the per-device peak table behind MFU, TFLOP/s and MFU
// from the model's FLOPs per token (Megatron's formula, models::Model::flops_per_token), process
// memory, metrics.jsonl (one JSON object per line, appended and flushed), and a one-line
// progress bar with ETA for terminals.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/dtype.h"

namespace primus::train {

// Dense peak TFLOP/s of one device for a compute dtype, or 0 when unknown. `device` is a product
// name ("NVIDIA H100 80GB HBM3") or "cpu" (estimated from cores, clock and vector width).
double peak_tflops(std::string_view device, DType compute, int cpu_threads = 0);
// Dense fp8 (E4M3) peak TFLOP/s of a GPU product name; 0 when unknown or without fp8 (CPUs).
double peak_tflops_fp8(std::string_view device);
// The product name of the device a backend named `backend_name` ("cpu", "cuda:0") runs on.
std::string device_product_name(std::string_view backend_name);

struct Throughput {
  double tokens_per_s = 0;
  double tflops = 0;   // achieved model TFLOP/s per device
  double mfu = 0;      // fraction of peak; 0 when the peak is unknown
};
// tokens: tokens processed on this device in `seconds`.
Throughput throughput(double tokens, double seconds, double flops_per_token, double peak_tflops);

// Peak resident set size of this process, in bytes (VmHWM).
size_t process_peak_rss_bytes();
// Seconds since this process started (from /proc; 0.01 s resolution; -1 where unknown).
double process_age_seconds();
std::string format_bytes(double bytes);        // "1.2GiB"
std::string format_duration(double seconds);   // "1h02m", "3m05s", "12s"

class MetricsWriter {
 public:
  MetricsWriter() = default;
  explicit MetricsWriter(const std::string& path);   // appends; throws primus::Error
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  void write(const nlohmann::json& record);          // one line, flushed

 private:
  std::FILE* file_ = nullptr;
};

// Redraws "step 120/1000 [=====>    ] 12% ETA 3m02s | loss 3.21" on one terminal line.
class ProgressBar {
 public:
  // mode: auto (only when stderr is a terminal) | on | off.
  ProgressBar(std::string_view mode, int64_t total_steps);
  bool enabled() const { return enabled_; }
  void update(int64_t step, double seconds_per_step, std::string_view suffix);
  void clear();     // erase the line before other output
  void redraw();    // draw the last state again
  void finish();

 private:
  bool enabled_ = false;
  int64_t total_ = 0;
  double avg_step_s_ = 0;
  std::string line_;
};

}  // namespace primus::train
