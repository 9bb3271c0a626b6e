// Per-rank memory projection of a training config: weights, gradients, optimizer state and
// activations under the parallel layout (tensor, pipeline, data; sequence parallel), ZeRO-1 and
// activation recompute, mirroring how models::Model and train::AdamW allocate (fp32 flat master
// parameters and gradients, plus bf16 compute copies under precision.compute=bf16; fp32 AdamW m
// and v; activations planned in one arena for micro-batch (B,T)). Nothing is allocated; an 8B
// config projects on a laptop. Backend::peak_memory_bytes should match total_bytes() - other_bytes.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "config/experiment.h"
#include "core/dtype.h"

namespace primus::preflight {

struct MemoryProjection {
  int64_t tensor = 1, pipeline = 1, data = 1;   // the layout projected
  int64_t params_total = 0;     // elements of the whole model's flat buffer
  int64_t params_rank = 0;      // elements held by the worst rank
  int64_t layers_rank = 0;      // transformer blocks on the worst pipeline stage
  int64_t in_flight = 1;        // micro-batches whose activations a stage holds at once (1F1B)
  size_t weights_bytes = 0;
  size_t grads_bytes = 0;
  size_t optimizer_bytes = 0;   // AdamW m and v (sharded over data ranks under ZeRO-1)
  size_t activation_bytes = 0;  // planned activations, backward scratch, logits
  size_t other_bytes = 0;       // runtime reserve (GEMM workspaces, CUDA context where relevant)
  size_t total_bytes() const { return weights_bytes + grads_bytes + optimizer_bytes + activation_bytes + other_bytes; }
  size_t checkpoint_bytes = 0;  // one checkpoint folder: fp32 weights plus AdamW m and v, whole model
};

// world_size: processes of the job; 0 = tensor * pipeline (one data-parallel rank).
// Throws primus::usage_error when the layout does not divide the model or the world.
MemoryProjection memory_project(const config::ExperimentConfig& cfg, int world_size = 0);

// Activation bytes of one micro-batch on a single device (no parallelism) exactly as models::Model
// plans them (64-byte aligned tensors; compute-dtype activations, fp32 statistics); with
// recompute "selective" or "full" every block after the first shares the first block's copy of
// what it recomputes (models/model_recompute.cpp).
size_t activation_bytes_single(const config::ModelConfig& model, int64_t B, int64_t T, DType compute = DType::kF32,
                               const std::string& recompute = "none");

// The projection as a terminal table ("weights 1.2GiB ...") and as JSON.
std::string memory_projection_table(const MemoryProjection& p, size_t device_bytes, const std::string& device_name);
nlohmann::json memory_projection_json(const MemoryProjection& p);

}  // namespace primus::preflight
