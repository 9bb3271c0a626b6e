// Attention benchmark: forward and backward TFLOP/s of the backend's causal attention kernels
// (attention_forward / attention_backward over packed qkv) over sequence lengths and head layouts.
// FLOPs count the causal half: forward 2*B*NH*T^2*HS, backward 2.5x the forward (FlashAttention's
// convention). Outputs are poisoned before the first call and checked finite.
#pragma once
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "bench/report.h"
#include "bench/svg_chart.h"

namespace primus::bench {

struct AttentionSweep {
  std::vector<int64_t> seq_lens;   // T
  int64_t batch = 1;               // B
  int64_t heads = 12, kv_heads = 12, head_dim = 64;   // NH, NKV, HS
  DType dtype = DType::kF32;
  int warmup = 1, iters = 5;
};

Report attention_report(const AttentionSweep& sweep, Backend& backend, double peak_tflops);
Chart attention_chart(const Report& report);

}  // namespace primus::bench
