// Memory projection (see memory_projection.h). The activation plan follows Model::plan_activations
// tensor by tensor; a change there must be mirrored here (tests/preflight compares the projection
// with the CPU backend's measured peak after a training step).
#include "preflight/memory_projection.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "models/model.h"
#include "train/metrics.h"

namespace primus::preflight {
namespace {

constexpr size_t kAlign = 64;

// Sums tensor sizes the way models::ArenaPlan lays them out.
struct Plan {
  size_t bytes = 0;
  void add(int64_t elements, size_t elem_size = 4) {
    bytes = (bytes + kAlign - 1) / kAlign * kAlign;
    bytes += static_cast<size_t>(std::max<int64_t>(elements, 0)) * elem_size;
  }
};

struct ActDims {
  int64_t B, T, N, C, QKV, A, FC, FF, NH, HS, Vp;
  bool llama;
};

// One block's saved activations, split into what selective recompute keeps and drops.
struct LayerActs {
  int64_t kept = 0, recomputable = 0;  // elements
  int64_t count = 0;                   // tensors (for alignment)
};

LayerActs layer_acts(const ActDims& d, int64_t nc) {
  LayerActs a;
  const int64_t norm_stats = (d.llama ? 1 : 2) * d.N;
  a.recomputable = 2 * nc + d.N * d.FF;  // norm1, norm2 outputs and the MLP activation output
  a.kept = 2 * norm_stats + d.N * d.QKV + d.N * d.A + d.B * d.NH * d.T + 2 * nc + d.N * d.FC;
  a.count = d.llama ? 11 : 13;
  return a;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

size_t activation_bytes_single(const config::ModelConfig& model, int64_t B, int64_t T, DType compute,
                               const std::string& recompute) {
  const models::ModelDims m = models::model_dims(model);
  const int64_t N = B * T, QKV = m.qkv_dim(), A = m.NH * m.HS, FC = m.llama ? 2 * m.FF : m.FF;
  const size_t f = dtype_size(compute), f32 = 4;  // activations in the compute dtype, statistics in fp32
  Plan p;
  p.add(N, 4), p.add(N, 4);  // tokens, targets (int32)
  if (m.llama) p.add(T * m.HS / 2, f32), p.add(T * m.HS / 2, f32);
  p.add(N * m.C, f);
  for (int64_t l = 0; l < m.L; ++l) {
    const bool full = l > 0 && recompute == "full", selective = l > 0 && (full || recompute == "selective");
    if (!selective) p.add(N * m.C, f);                                   // norm1
    if (!full) {
      if (!m.llama) p.add(N, f32);
      p.add(N, f32), p.add(N * QKV, f), p.add(N * A, f), p.add(B * m.NH * T, f32), p.add(N * m.C, f);
    }
    if (!selective) p.add(N * m.C, f);                                   // norm2
    if (!full) {
      if (!m.llama) p.add(N, f32);
      p.add(N, f32), p.add(N * FC, f);
    }
    if (!selective) p.add(N * m.FF, f);                                  // MLP activation
    p.add(N * m.C, f);                                                   // the block's output
  }
  p.add(N * m.C, f);
  if (!m.llama) p.add(N, f32);
  p.add(N, f32), p.add(N * m.Vp, f), p.add(N, f32);
  p.add(N * m.C, f), p.add(N * m.C, f), p.add(N * QKV, f);
  if (m.llama) p.add(N * QKV, f);
  p.add(N * A, f), p.add(N * FC, f), p.add(N * m.FF, f);
  return p.bytes;
}

MemoryProjection memory_project(const config::ExperimentConfig& cfg, int world_size) {
  const auto& par = cfg.parallel;
  const models::ModelDims m = models::model_dims(cfg.model);
  const int64_t tp = par.tensor, pp = par.pipeline;
  if (tp < 1 || pp < 1) throw usage_error("parallel.tensor and parallel.pipeline must be at least 1");
  std::vector<std::string> problems;
  for (auto [what, v] : {std::pair{"num_attention_heads", m.NH}, {"num_kv_heads", m.NKV}, {"ffn_hidden_size", m.FF}})
    if (v % tp != 0) problems.push_back(fmt::format("parallel.tensor={} does not divide model.{} ({})", tp, what, v));
  if (pp > m.L) problems.push_back(fmt::format("parallel.pipeline={} exceeds the {} layers", pp, m.L));
  const int64_t world = world_size > 0 ? world_size : tp * pp;
  if (world % (tp * pp) != 0)
    problems.push_back(fmt::format("{} processes are not a multiple of tensor*pipeline = {}", world, tp * pp));
  if (!problems.empty()) {
    std::string msg = "impossible parallel layout:";
    for (const auto& p : problems) msg += "\n  " + p;
    throw usage_error(msg, "choose sizes that divide the model's heads, FFN and layers and the number of processes");
  }
  MemoryProjection r;
  r.tensor = tp, r.pipeline = pp, r.data = world / (tp * pp);

  // Parameters: blocks are split over pipeline stages and sharded over tensor ranks (norm weights
  // are replicated); embeddings and the head are vocab-parallel.
  int64_t embed = 0, per_layer_sharded = 0, per_layer_replicated = 0, final_norm = 0, head = 0;
  for (const auto& info : models::plan_params(cfg.model)) {
    r.params_total += info.shape.numel();
    if (info.name.rfind("h.", 0) == 0) {
      if (info.name.rfind("h.0.", 0) != 0) continue;  // every block has the same parameters
      (info.is_norm ? per_layer_replicated : per_layer_sharded) += info.shape.numel();
    } else if (info.is_embedding) {
      embed += info.shape.numel();
    } else if (info.is_norm) {
      final_norm += info.shape.numel();
    } else {
      head += info.shape.numel();
    }
  }
  r.layers_rank = ceil_div(m.L, pp);
  const int64_t layer_params = per_layer_sharded / tp + per_layer_replicated;
  const int64_t first = embed / tp + r.layers_rank * layer_params + (pp == 1 ? final_norm + head / tp : 0);
  const int64_t last = (m.L - (pp - 1) * r.layers_rank) * layer_params + final_norm + head / tp;
  r.params_rank = pp == 1 ? first : std::max(first, last + (cfg.model.tie_embeddings ? embed / tp : 0));
  const size_t P = static_cast<size_t>(r.params_rank);
  const DType compute = config::compute_dtype(cfg.precision);
  const size_t es = dtype_size(compute);
  r.weights_bytes = 4 * P;   // fp32 master weights
  r.grads_bytes = 4 * P;     // fp32 gradient accumulation
  if (compute != DType::kF32) {
    // The compute copy of the weights and one fp32 logits row (gradients accumulate in fp32 directly).
    r.weights_bytes += es * P;
    r.grads_bytes += 4 * static_cast<size_t>(m.Vp);
  }
  r.optimizer_bytes = 8 * P / static_cast<size_t>(par.zero >= 1 ? r.data : 1);
  // ZeRO-1 reduce-scatters the gradients into a shard of their own; the trainer keeps no full m, v
  // (they are gathered only while a checkpoint is saved).
  if (par.zero >= 1 && r.data > 1) r.grads_bytes += 4 * P / static_cast<size_t>(r.data);
  r.checkpoint_bytes = 12 * static_cast<size_t>(r.params_total);

  // Activations of the worst stage.
  const int64_t B = cfg.train.micro_batch_size, T = cfg.train.seq_len;
  if (tp == 1 && pp == 1) {
    r.activation_bytes = activation_bytes_single(cfg.model, B, T, compute, cfg.backend.recompute);
  } else {
    const ActDims d{B, T, B * T, m.C, m.qkv_dim() / tp, m.NH * m.HS / tp, (m.llama ? 2 * m.FF : m.FF) / tp, m.FF / tp,
                    m.NH / tp, m.HS, m.Vp / tp, m.llama};
    const int64_t nc = par.sequence_parallel ? d.N * d.C / tp : d.N * d.C;
    const LayerActs la = layer_acts(d, nc);
    int64_t accum = 1;
    if (cfg.train.global_batch_size > 0 && B > 0) accum = std::max<int64_t>(1, cfg.train.global_batch_size / (B * r.data));
    r.in_flight = pp > 1 ? std::min(pp, accum) : 1;
    int64_t per_layer = la.kept + la.recomputable, working = 0;
    if (cfg.backend.recompute == "selective") per_layer = la.kept, working = la.recomputable;
    if (cfg.backend.recompute == "full") per_layer = nc, working = la.kept + la.recomputable;
    const int64_t scratch = 2 * nc + d.N * d.QKV * (d.llama ? 2 : 1) + d.N * d.A + d.N * d.FC + d.N * d.FF;
    const int64_t io = 2 * d.N + d.N * d.C + (d.llama ? T * d.HS : 0);            // tokens, targets, embeddings, rope
    const int64_t tail = d.N * d.C + 2 * d.N + d.N * d.Vp + d.N;                           // final norm, logits, losses
    const int64_t elems = r.in_flight * (r.layers_rank * per_layer + io + (pp == 1 ? tail : 0)) + working + scratch +
                          (pp == 1 ? 0 : tail);
    r.activation_bytes = es * static_cast<size_t>(elems) + kAlign * static_cast<size_t>(r.layers_rank * la.count + 32);
  }
  // cuBLASLt workspace and the CUDA context are outside the backend's allocation count but real.
  r.other_bytes = cfg.backend.device == "cpu" ? 0 : size_t{512} << 20;
  return r;
}

std::string memory_projection_table(const MemoryProjection& p, size_t device_bytes, const std::string& device_name) {
  using train::format_bytes;
  std::string out = fmt::format("memory projection per rank (tensor {} x pipeline {} x data {}; {} of {} parameters, {} layers)\n",
                                p.tensor, p.pipeline, p.data, p.params_rank, p.params_total, p.layers_rank);
  auto line = [&](const char* what, size_t bytes) { out += fmt::format("  {:<12} {:>10}\n", what, format_bytes(static_cast<double>(bytes))); };
  line("weights", p.weights_bytes);
  line("gradients", p.grads_bytes);
  line("optimizer", p.optimizer_bytes);
  line("activations", p.activation_bytes);
  if (p.other_bytes) line("runtime", p.other_bytes);
  line("total", p.total_bytes());
  if (device_bytes > 0)
    out += fmt::format("  {} has {}: {}\n", device_name, format_bytes(static_cast<double>(device_bytes)),
                       p.total_bytes() <= device_bytes ? "fits" : "does NOT fit");
  return out;
}

nlohmann::json memory_projection_json(const MemoryProjection& p) {
  return {{"tensor", p.tensor},           {"pipeline", p.pipeline},       {"data", p.data},
          {"params_total", p.params_total}, {"params_rank", p.params_rank}, {"layers_rank", p.layers_rank},
          {"in_flight", p.in_flight},     {"weights_bytes", p.weights_bytes}, {"grads_bytes", p.grads_bytes},
          {"optimizer_bytes", p.optimizer_bytes}, {"activation_bytes", p.activation_bytes},
          {"other_bytes", p.other_bytes}, {"total_bytes", p.total_bytes()}, {"checkpoint_bytes", p.checkpoint_bytes}};
}

}  // namespace primus::preflight
