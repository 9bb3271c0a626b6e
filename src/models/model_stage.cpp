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

Tensor Model::stage_output() { return acts_[static_cast<size_t>((chunk_ + 1) * layers_per_chunk_ - 1)].res2; }

}  // namespace primus::models
