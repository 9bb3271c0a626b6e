// Process mesh arithmetic (tensor fastest, then data, then pipeline), layout validation that names
// every impossible number at once, and the three sub-communicators split from the world.
#include "dist/mesh.h"

#include <string>
#include <vector>

namespace primus::dist {

MeshCoord mesh_coord(const MeshShape& s, int rank) {
  PRIMUS_CHECK(rank >= 0 && rank < s.world(), "rank {} outside a mesh of {}", rank, s.world());
  return MeshCoord{rank % s.tensor, (rank / s.tensor) % s.data, rank / (s.tensor * s.data)};
}

int mesh_rank(const MeshShape& s, const MeshCoord& c) {
  return c.tensor + s.tensor * (c.data + s.data * c.pipeline);
}

MeshShape validate_layout(const config::ExperimentConfig& cfg, int world_size) {
  const auto& p = cfg.parallel;
  const auto& m = cfg.model;
  std::vector<std::string> problems;
  auto fail = [&](std::string s) { problems.push_back(std::move(s)); };
  if (p.tensor < 1) fail(fmt::format("parallel.tensor = {} must be at least 1", p.tensor));
  if (p.pipeline < 1) fail(fmt::format("parallel.pipeline = {} must be at least 1", p.pipeline));
  if (p.virtual_pipeline < 1) fail(fmt::format("parallel.virtual_pipeline = {} must be at least 1", p.virtual_pipeline));
  if (p.zero != 0 && p.zero != 1) fail(fmt::format("parallel.zero = {} must be 0 or 1", p.zero));
  if (!problems.empty()) goto done;
  {
    int64_t tp = p.tensor, pp = p.pipeline, vpp = p.virtual_pipeline;
    int64_t dp = 0;
    if (world_size % (tp * pp) != 0) {
      fail(fmt::format("world size {} is not a multiple of tensor {} x pipeline {} = {}", world_size, tp,
                       pp, tp * pp));
    } else {
      dp = world_size / (tp * pp);
    }
    int64_t nh = m.num_attention_heads, nkv = m.num_kv_heads > 0 ? m.num_kv_heads : nh;
    if (nh % tp) fail(fmt::format("model.num_attention_heads = {} is not divisible by parallel.tensor = {}", nh, tp));
    if (nkv % tp) fail(fmt::format("model.num_kv_heads = {} is not divisible by parallel.tensor = {}", nkv, tp));
    // The FFN default of models::model_dims: 4C for GPT-2, Meta's 2/3 of 4C rounded up to 256 for Llama.
    const int64_t ff_default = m.arch == "llama" ? (2 * 4 * m.hidden_size / 3 + 255) / 256 * 256 : 4 * m.hidden_size;
    int64_t ff = m.ffn_hidden_size > 0 ? m.ffn_hidden_size : ff_default;
    if (ff % tp) fail(fmt::format("FFN size {} is not divisible by parallel.tensor = {}", ff, tp));
    int64_t div = m.make_vocab_size_divisible_by > 0 ? m.make_vocab_size_divisible_by : 1;
    int64_t vp = (m.vocab_size + div - 1) / div * div;
    if (vp % tp) {
      fail(fmt::format("padded vocabulary {} (vocab_size {} rounded up to a multiple of {}) is not "
                       "divisible by parallel.tensor = {}; make model.make_vocab_size_divisible_by a "
                       "multiple of {}", vp, m.vocab_size, div, tp, tp));
    }
    if (m.num_layers % (pp * vpp)) {
      fail(fmt::format("model.num_layers = {} is not divisible by pipeline {} x virtual_pipeline {} = {}",
                       m.num_layers, pp, vpp, pp * vpp));
    }
    if (vpp > 1 && pp == 1) fail(fmt::format("parallel.virtual_pipeline = {} needs parallel.pipeline > 1", vpp));
    if (p.sequence_parallel && tp == 1) fail("parallel.sequence_parallel needs parallel.tensor > 1");
    if (p.sequence_parallel && tp > 1 && cfg.train.seq_len % tp) {
      fail(fmt::format("train.seq_len = {} is not divisible by parallel.tensor = {} (sequence parallel)",
                       cfg.train.seq_len, tp));
    }
    if (dp > 0) {
      int64_t per_step = cfg.train.micro_batch_size * dp;
      if (per_step <= 0 || cfg.train.global_batch_size % per_step) {
        fail(fmt::format("train.global_batch_size = {} is not a multiple of micro_batch_size {} x data "
                         "parallel {} = {}", cfg.train.global_batch_size, cfg.train.micro_batch_size, dp,
                         per_step));
      }
    }
    if (problems.empty()) {
      return MeshShape{static_cast<int>(tp), static_cast<int>(dp), static_cast<int>(pp)};
    }
  }
done:
  std::string msg = fmt::format("impossible parallel layout on {} processes:", world_size);
  for (const auto& s : problems) msg += "\n  - " + s;
  throw usage_error(msg, "data-parallel size = world size / (tensor x pipeline); see docs/distributed.md");
}

ProcessMesh::ProcessMesh(Comm& world, const MeshShape& shape) : world_(world), shape_(shape) {
  if (shape.world() != world.size()) {
    throw usage_error(fmt::format("mesh tensor {} x data {} x pipeline {} = {} does not match {} processes",
                                  shape.tensor, shape.data, shape.pipeline, shape.world(), world.size()));
  }
  coord_ = mesh_coord(shape, world.rank());
  const auto& c = coord_;
  // color = the coordinates a group shares; key = the position along the group's own axis.
  tensor_ = world.split(c.data + shape.data * c.pipeline, c.tensor);
  data_ = world.split(c.tensor + shape.tensor * c.pipeline, c.data);
  pipeline_ = world.split(c.tensor + shape.tensor * c.data, c.pipeline);
}

}  // namespace primus::dist
