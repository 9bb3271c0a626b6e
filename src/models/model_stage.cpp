// Pipeline stages of a Model (see ModelShard in model.h): which parameters a stage holds (blocks of
// its chunks under their global names, the embeddings where a chunk starts at layer 0, the final
// norm and head where one ends at L, and a tied head's own copy of the embedding), and the
// activation slots that let several micro-batches be in flight per chunk (one set of activations
// each; parameters, gradients and the backward scratch are shared).
#include <fmt/format.h>

#include <string>

#include "core/error.h"
#include "models/model.h"

namespace primus::models {

namespace {

// Layer of a block parameter ("h.<l>.<rest>"), or -1 for a non-block parameter.
int64_t block_of(const std::string& name) {
  if (name.rfind("h.", 0) != 0) return -1;
  const size_t dot = name.find('.', 2);
  return dot == std::string::npos ? -1 : std::stoll(name.substr(2, dot - 2));
}

}  // namespace

void Model::plan_stage() {
  ModelShard& s = shard_;
  const int64_t L = dims_.L;
  if (s.layer_end < 0) s.layer_end = L - s.chunk_stride * (s.chunks - 1);
  const int64_t n = s.layer_end - s.layer_begin;
  const int64_t last_end = s.layer_end + s.chunk_stride * (s.chunks - 1);
  if (s.chunks < 1 || s.layer_begin < 0 || n <= 0 || last_end > L || s.activation_slots < 1 ||
      (s.chunks > 1 && s.chunk_stride < n))
    throw usage_error(fmt::format("invalid pipeline stage: blocks [{}, {}) in {} chunk(s) {} apart, {} slot(s), "
                                  "of a model with {} layers", s.layer_begin, s.layer_end, s.chunks, s.chunk_stride,
                                  s.activation_slots, L),
                      "parallel.pipeline x virtual_pipeline must divide model.num_layers");
  layers_per_chunk_ = n;
  bool embedding = false, head = false;
  for (int c = 0; c < s.chunks; ++c) {
    embedding |= chunk_has_embedding(c);
    head |= chunk_has_head(c);
  }
  auto holds_block = [&](int64_t l) {
    for (int c = 0; c < s.chunks; ++c)
      if (l >= chunk_begin(c) && l < chunk_begin(c) + n) return true;
    return false;
  };
  std::vector<ParamInfo> kept;
  int64_t offset = 0;
  for (ParamInfo& p : infos_) {
    const int64_t l = block_of(p.name);
    bool keep = false;
    if (l >= 0) {
      keep = holds_block(l);
    } else if (p.name == "wte.weight" || p.name == "embed.weight") {
      keep = embedding || (head && cfg_.tie_embeddings);   // a tied head's own copy
    } else if (p.name == "wpe.weight") {
      keep = embedding;
    } else {
      keep = head;   // final norm, untied head
    }
    if (!keep) continue;
    p.offset = offset;
    offset += p.shape.numel();
    kept.push_back(std::move(p));
  }
  infos_ = std::move(kept);
}

int Model::tied_copy_index() const {
  if (!cfg_.tie_embeddings || emb_ < 0) return -1;
  for (int c = 0; c < shard_.chunks; ++c)
    if (chunk_has_embedding(c)) return -1;   // the first stage's embedding is the original
  return emb_;
}

void Model::select(int chunk, int slot) {
  PRIMUS_CHECK(chunk >= 0 && chunk < shard_.chunks && slot >= 0 && slot < shard_.activation_slots,
               "chunk {} slot {} of {} x {}", chunk, slot, shard_.chunks, shard_.activation_slots);
  Slot& old = slots_[static_cast<size_t>(chunk_ * shard_.activation_slots + slot_)];
  old.valid_targets = valid_targets_;
  old.ignore_index = ignore_index_;
  old.have_targets = have_targets_;
  chunk_ = chunk;
  slot_ = slot;
  const Slot& cur = slots_[static_cast<size_t>(chunk * shard_.activation_slots + slot)];
  tokens_ = cur.tokens;
  targets_ = cur.targets;
  encoded_ = cur.encoded;
  normf_ = cur.normf;
  normf_mean_ = cur.normf_mean;
  normf_rstd_ = cur.normf_rstd;
  logits_ = cur.logits;
  losses_ = cur.losses;
  for (int64_t i = 0; i < layers_per_chunk_; ++i) acts_[static_cast<size_t>(chunk * layers_per_chunk_ + i)] = cur.acts[i];
  valid_targets_ = cur.valid_targets;
  ignore_index_ = cur.ignore_index;
  have_targets_ = cur.have_targets;
}

std::vector<HfTensor> hf_tensors_full(const config::ModelConfig& cfg) {
  const ModelDims d = model_dims(cfg);
  const std::vector<ParamInfo> infos = plan_params(cfg);
  std::vector<HfTensor> out;
  auto index = [&](const std::string& name) {
    for (size_t i = 0; i < infos.size(); ++i)
      if (infos[i].name == name) return static_cast<int>(i);
    return -1;
  };
  auto rows = [&](std::string hf, const std::string& name, int64_t begin, int64_t end, bool transpose = false) {
    const int i = index(name);
    if (i < 0) return;
    const Shape s = infos[static_cast<size_t>(i)].shape;
    if (end < 0) end = s[0];
    Shape shape = s.ndim == 1 ? Shape{end - begin} : Shape{end - begin, s[1]};
    if (transpose) shape = Shape{s[1], s[0]};
    out.push_back({std::move(hf), i, begin, end, transpose, shape});
  };
  if (!d.llama) {
    rows("transformer.wte.weight", "wte.weight", 0, d.V);
    rows("transformer.wpe.weight", "wpe.weight", 0, -1);
    for (int64_t l = 0; l < d.L; ++l) {
      const std::string h = fmt::format("transformer.h.{}.", l), o = fmt::format("h.{}.", l);
      rows(h + "ln_1.weight", o + "ln1.weight", 0, -1);
      rows(h + "ln_1.bias", o + "ln1.bias", 0, -1);
      rows(h + "attn.c_attn.weight", o + "attn.qkv.weight", 0, -1, true);
      rows(h + "attn.c_attn.bias", o + "attn.qkv.bias", 0, -1);
      rows(h + "attn.c_proj.weight", o + "attn.proj.weight", 0, -1, true);
      rows(h + "attn.c_proj.bias", o + "attn.proj.bias", 0, -1);
      rows(h + "ln_2.weight", o + "ln2.weight", 0, -1);
      rows(h + "ln_2.bias", o + "ln2.bias", 0, -1);
      rows(h + "mlp.c_fc.weight", o + "mlp.fc.weight", 0, -1, true);
      rows(h + "mlp.c_fc.bias", o + "mlp.fc.bias", 0, -1);
      rows(h + "mlp.c_proj.weight", o + "mlp.proj.weight", 0, -1, true);
      rows(h + "mlp.c_proj.bias", o + "mlp.proj.bias", 0, -1);
    }
    rows("transformer.ln_f.weight", "lnf.weight", 0, -1);
    rows("transformer.ln_f.bias", "lnf.bias", 0, -1);
  } else {
    rows("model.embed_tokens.weight", "embed.weight", 0, d.V);
    const int64_t q = d.NH * d.HS, kv = d.NKV * d.HS;
    for (int64_t l = 0; l < d.L; ++l) {
      const std::string h = fmt::format("model.layers.{}.", l), o = fmt::format("h.{}.", l);
      rows(h + "input_layernorm.weight", o + "attn_norm.weight", 0, -1);
      rows(h + "self_attn.q_proj.weight", o + "attn.qkv.weight", 0, q);
      rows(h + "self_attn.k_proj.weight", o + "attn.qkv.weight", q, q + kv);
      rows(h + "self_attn.v_proj.weight", o + "attn.qkv.weight", q + kv, q + 2 * kv);
      rows(h + "self_attn.q_proj.bias", o + "attn.qkv.bias", 0, q);
      rows(h + "self_attn.k_proj.bias", o + "attn.qkv.bias", q, q + kv);
      rows(h + "self_attn.v_proj.bias", o + "attn.qkv.bias", q + kv, q + 2 * kv);
      rows(h + "self_attn.o_proj.weight", o + "attn.o_proj.weight", 0, -1);
      rows(h + "post_attention_layernorm.weight", o + "mlp_norm.weight", 0, -1);
      rows(h + "mlp.gate_proj.weight", o + "mlp.gate_up.weight", 0, d.FF);
      rows(h + "mlp.up_proj.weight", o + "mlp.gate_up.weight", d.FF, 2 * d.FF);
      rows(h + "mlp.down_proj.weight", o + "mlp.down.weight", 0, -1);
    }
    rows("model.norm.weight", "norm.weight", 0, -1);
  }
  rows("lm_head.weight", "lm_head.weight", 0, d.V);
  return out;
}

Tensor Model::stage_output() { return acts_[static_cast<size_t>((chunk_ + 1) * layers_per_chunk_ - 1)].res2; }

}  // namespace primus::models
