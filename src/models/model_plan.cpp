// Model shapes without memory: dimensions, the flat parameter layout, Hugging Face names and
// config.json, parameter counts and the MFU FLOP formula.
#include <fmt/format.h>

#include "core/error.h"
#include "models/model.h"

namespace primus::models {

ModelDims model_dims(const config::ModelConfig& cfg) {
  std::vector<std::string> problems;
  ModelDims d;
  if (cfg.arch != "gpt2" && cfg.arch != "llama")
    problems.push_back(fmt::format("model.arch '{}' is unknown (gpt2 | llama)", cfg.arch));
  d.llama = cfg.arch == "llama";
  d.L = cfg.num_layers;
  d.C = cfg.hidden_size;
  d.NH = cfg.num_attention_heads;
  d.NKV = cfg.num_kv_heads > 0 ? cfg.num_kv_heads : cfg.num_attention_heads;
  d.V = cfg.vocab_size;
  d.maxT = cfg.max_position_embeddings;
  if (d.L <= 0) problems.push_back(fmt::format("model.num_layers must be > 0, got {}", d.L));
  if (d.C <= 0) problems.push_back(fmt::format("model.hidden_size must be > 0, got {}", d.C));
  if (d.NH <= 0) problems.push_back(fmt::format("model.num_attention_heads must be > 0, got {}", d.NH));
  if (d.V <= 0) problems.push_back(fmt::format("model.vocab_size must be > 0, got {}", d.V));
  if (d.maxT <= 0)
    problems.push_back(fmt::format("model.max_position_embeddings must be > 0, got {}", d.maxT));
  if (cfg.make_vocab_size_divisible_by <= 0)
    problems.push_back("model.make_vocab_size_divisible_by must be > 0");
  if (d.NH > 0 && d.C % d.NH != 0)
    problems.push_back(fmt::format("model.hidden_size {} is not divisible by num_attention_heads {}", d.C, d.NH));
  if (d.NKV <= 0 || (d.NH > 0 && d.NH % d.NKV != 0))
    problems.push_back(fmt::format("model.num_attention_heads {} is not a multiple of num_kv_heads {}", d.NH, d.NKV));
  if (!d.llama && d.NKV != d.NH)
    problems.push_back("gpt2 has no grouped-query attention: num_kv_heads must be 0 or num_attention_heads");
  d.HS = d.NH > 0 ? d.C / d.NH : 0;
  if (d.llama && d.HS % 2 != 0)
    problems.push_back(fmt::format("RoPE needs an even head size, got {}", d.HS));
  if (cfg.ffn_hidden_size > 0) {
    d.FF = cfg.ffn_hidden_size;
  } else if (d.llama) {  // Meta's default: 2/3 of 4C, rounded up to a multiple of 256
    d.FF = (2 * 4 * d.C / 3 + 255) / 256 * 256;
  } else {
    d.FF = 4 * d.C;
  }
  if (cfg.ffn_hidden_size < 0) problems.push_back("model.ffn_hidden_size must be >= 0");
  if (!problems.empty()) {
    std::string msg = "invalid model shape:";
    for (const std::string& p : problems) msg += "\n  " + p;
    throw usage_error(msg, "fix the model section of the config");
  }
  const int64_t m = cfg.make_vocab_size_divisible_by;
  d.Vp = (d.V + m - 1) / m * m;
  return d;
}

namespace {

struct Planner {
  std::vector<ParamInfo> infos;
  int64_t offset = 0;
  int tp = 1, rank = 0;   // tensor-parallel size and rank
  int add(std::string name, Shape shape, bool embedding = false, bool norm = false, bool bias = false) {
    ParamInfo p{.name = std::move(name), .shape = shape, .offset = offset,
                .decay = !(embedding || norm || bias), .is_embedding = embedding, .is_norm = norm,
                .is_bias = bias, .full_shape = shape, .slice = {}};
    offset += shape.numel();
    infos.push_back(std::move(p));
    return static_cast<int>(infos.size()) - 1;
  }
  // A tensor split along `dim` into `parts` equal parts (each split over the TP ranks): rank r holds
  // the r-th tp-th of every part, e.g. parts {NH*HS, NKV*HS, NKV*HS} rows for the fused QKV.
  int add_split(std::string name, Shape full, int dim, std::vector<int64_t> parts, bool bias = false) {
    if (tp == 1) return add(std::move(name), full, false, false, bias);
    ShardSlice slice;
    slice.dim = dim;
    int64_t begin = 0, local = 0;
    for (int64_t part : parts) {
      const int64_t n = part / tp;
      slice.ranges.push_back({begin + rank * n, begin + (rank + 1) * n});
      begin += part;
      local += n;
    }
    Shape shape = full;
    shape.dims[dim] = local;
    const int index = add(std::move(name), shape, false, false, bias);
    infos[index].full_shape = full;
    infos[index].slice = std::move(slice);
    return index;
  }
};

}  // namespace

std::vector<ParamInfo> plan_params(const config::ModelConfig& cfg, int tp_size, int tp_rank) {
  const ModelDims d = model_dims(cfg);
  PRIMUS_CHECK(tp_size >= 1 && tp_rank >= 0 && tp_rank < tp_size, "tp rank {} of {}", tp_rank, tp_size);
  if (tp_size > 1 && (d.NH % tp_size || d.NKV % tp_size || d.FF % tp_size || d.Vp % tp_size))
    throw usage_error(fmt::format("tensor parallel size {} must divide the attention heads {}, KV heads {}, FFN "
                                  "size {} and padded vocabulary {}", tp_size, d.NH, d.NKV, d.FF, d.Vp),
                      "choose parallel.tensor accordingly");
  Planner pl;
  pl.tp = tp_size;
  pl.rank = tp_rank;
  const int64_t q = d.NH * d.HS, kv = d.NKV * d.HS;
  auto vocab = [&](std::string name) {   // vocabulary-parallel: rows of the padded vocabulary split
    const int i = pl.add_split(std::move(name), {d.Vp, d.C}, 0, {d.Vp});
    pl.infos[i].is_embedding = true;
    pl.infos[i].decay = false;
  };
  if (!d.llama) {
    vocab("wte.weight");
    pl.add("wpe.weight", {d.maxT, d.C}, true);
  } else {
    vocab("embed.weight");
  }
  for (int64_t l = 0; l < d.L; ++l) {
    const std::string h = fmt::format("h.{}.", l);
    if (!d.llama) {
      pl.add(h + "ln1.weight", {d.C}, false, true);
      pl.add(h + "ln1.bias", {d.C}, false, true, true);
      pl.add_split(h + "attn.qkv.weight", {3 * d.C, d.C}, 0, {q, kv, kv});
      pl.add_split(h + "attn.qkv.bias", {3 * d.C}, 0, {q, kv, kv}, true);
      pl.add_split(h + "attn.proj.weight", {d.C, d.C}, 1, {q});
      pl.add(h + "attn.proj.bias", {d.C}, false, false, true);
      pl.add(h + "ln2.weight", {d.C}, false, true);
      pl.add(h + "ln2.bias", {d.C}, false, true, true);
      pl.add_split(h + "mlp.fc.weight", {d.FF, d.C}, 0, {d.FF});
      pl.add_split(h + "mlp.fc.bias", {d.FF}, 0, {d.FF}, true);
      pl.add_split(h + "mlp.proj.weight", {d.C, d.FF}, 1, {d.FF});
      pl.add(h + "mlp.proj.bias", {d.C}, false, false, true);
    } else {
      pl.add(h + "attn_norm.weight", {d.C}, false, true);
      pl.add_split(h + "attn.qkv.weight", {d.qkv_dim(), d.C}, 0, {q, kv, kv});
      if (cfg.qkv_bias) pl.add_split(h + "attn.qkv.bias", {d.qkv_dim()}, 0, {q, kv, kv}, true);
      pl.add_split(h + "attn.o_proj.weight", {d.C, q}, 1, {q});
      pl.add(h + "mlp_norm.weight", {d.C}, false, true);
      pl.add_split(h + "mlp.gate_up.weight", {2 * d.FF, d.C}, 0, {d.FF, d.FF});
      pl.add_split(h + "mlp.down.weight", {d.C, d.FF}, 1, {d.FF});
    }
  }
  if (!d.llama) {
    pl.add("lnf.weight", {d.C}, false, true);
    pl.add("lnf.bias", {d.C}, false, true, true);
  } else {
    pl.add("norm.weight", {d.C}, false, true);
  }
  if (!cfg.tie_embeddings) pl.add_split("lm_head.weight", {d.Vp, d.C}, 0, {d.Vp});
  return pl.infos;
}

int64_t count_params_hf(const config::ModelConfig& cfg) {
  const ModelDims d = model_dims(cfg);
  int64_t n = 0;
  for (const ParamInfo& p : plan_params(cfg)) {
    const bool vocab_rows = p.name == "wte.weight" || p.name == "embed.weight" || p.name == "lm_head.weight";
    n += vocab_rows ? d.V * d.C : p.shape.numel();
  }
  return n;
}

double flops_per_token(const config::ModelConfig& cfg, int64_t T) {
  const ModelDims d = model_dims(cfg);
  const int64_t positions = d.llama ? 0 : d.maxT * d.C;
  const double params = static_cast<double>(count_params_hf(cfg) - positions);
  return 6.0 * params + 12.0 * static_cast<double>(d.L * d.NH * d.HS * T);
}

std::vector<HfTensor> Model::hf_tensors() const {
  const ModelDims& d = dims_;
  std::vector<HfTensor> out;
  auto whole = [&](std::string name, int index, bool transpose = false) {
    const Shape s = infos_[index].full_shape;   // tensor parallel: the full tensor's shape
    const Shape hf = transpose ? Shape{s[1], s[0]} : s;
    out.push_back({std::move(name), index, 0, s[0], transpose, hf});
  };
  auto rows = [&](std::string name, int index, int64_t begin, int64_t end) {
    const Shape s = infos_[index].full_shape;   // tensor parallel: the full tensor's shape
    const Shape hf = s.ndim == 1 ? Shape{end - begin} : Shape{end - begin, s[1]};
    out.push_back({std::move(name), index, begin, end, false, hf});
  };
  if (!d.llama) {
    if (emb_ >= 0) rows("transformer.wte.weight", emb_, 0, d.V);
    if (pos_ >= 0) whole("transformer.wpe.weight", pos_);
    for (size_t held = 0; held < layer_params_.size(); ++held) {   // a pipeline stage: its blocks only
      const LayerParams& lp = layer_params_[held];
      const std::string h = fmt::format("transformer.h.{}.", global_layer(static_cast<int64_t>(held)));
      whole(h + "ln_1.weight", lp.norm1_w);
      whole(h + "ln_1.bias", lp.norm1_b);
      whole(h + "attn.c_attn.weight", lp.qkv_w, true);
      whole(h + "attn.c_attn.bias", lp.qkv_b);
      whole(h + "attn.c_proj.weight", lp.attn_proj_w, true);
      whole(h + "attn.c_proj.bias", lp.attn_proj_b);
      whole(h + "ln_2.weight", lp.norm2_w);
      whole(h + "ln_2.bias", lp.norm2_b);
      whole(h + "mlp.c_fc.weight", lp.fc_w, true);
      whole(h + "mlp.c_fc.bias", lp.fc_b);
      whole(h + "mlp.c_proj.weight", lp.proj_w, true);
      whole(h + "mlp.c_proj.bias", lp.proj_b);
    }
    if (normf_w_ >= 0) whole("transformer.ln_f.weight", normf_w_);
    if (normf_b_ >= 0) whole("transformer.ln_f.bias", normf_b_);
  } else {
    if (emb_ >= 0) rows("model.embed_tokens.weight", emb_, 0, d.V);
    const int64_t q = d.NH * d.HS, kv = d.NKV * d.HS;
    for (size_t held = 0; held < layer_params_.size(); ++held) {
      const LayerParams& lp = layer_params_[held];
      const std::string h = fmt::format("model.layers.{}.", global_layer(static_cast<int64_t>(held)));
      whole(h + "input_layernorm.weight", lp.norm1_w);
      rows(h + "self_attn.q_proj.weight", lp.qkv_w, 0, q);
      rows(h + "self_attn.k_proj.weight", lp.qkv_w, q, q + kv);
      rows(h + "self_attn.v_proj.weight", lp.qkv_w, q + kv, q + 2 * kv);
      if (lp.qkv_b >= 0) {
        rows(h + "self_attn.q_proj.bias", lp.qkv_b, 0, q);
        rows(h + "self_attn.k_proj.bias", lp.qkv_b, q, q + kv);
        rows(h + "self_attn.v_proj.bias", lp.qkv_b, q + kv, q + 2 * kv);
      }
      whole(h + "self_attn.o_proj.weight", lp.attn_proj_w);
      whole(h + "post_attention_layernorm.weight", lp.norm2_w);
      rows(h + "mlp.gate_proj.weight", lp.fc_w, 0, d.FF);
      rows(h + "mlp.up_proj.weight", lp.fc_w, d.FF, 2 * d.FF);
      whole(h + "mlp.down_proj.weight", lp.proj_w);
    }
    if (normf_w_ >= 0) whole("model.norm.weight", normf_w_);
  }
  if (head_ >= 0 && head_ != emb_) rows("lm_head.weight", head_, 0, d.V);
  return out;
}

nlohmann::json Model::hf_config() const {
  const ModelDims& d = dims_;
  nlohmann::json j;
  if (!d.llama) {
    j = {{"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"}, {"vocab_size", d.V},
         {"n_positions", d.maxT}, {"n_ctx", d.maxT}, {"n_embd", d.C}, {"n_layer", d.L},
         {"n_head", d.NH}, {"n_inner", d.FF}, {"activation_function", "gelu_new"},
         {"layer_norm_epsilon", cfg_.norm_eps}, {"initializer_range", cfg_.init_std},
         {"attn_pdrop", 0.0}, {"embd_pdrop", 0.0}, {"resid_pdrop", 0.0},
         {"tie_word_embeddings", cfg_.tie_embeddings}};
  } else {
    // Llama's attention_bias would also put a bias on o_proj; QKV-only bias is Qwen2's layout.
    const bool qwen = cfg_.qkv_bias;
    j = {{"architectures", {qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
         {"model_type", qwen ? "qwen2" : "llama"}, {"vocab_size", d.V},
         {"hidden_size", d.C}, {"intermediate_size", d.FF}, {"num_hidden_layers", d.L},
         {"num_attention_heads", d.NH}, {"num_key_value_heads", d.NKV}, {"head_dim", d.HS},
         {"hidden_act", "silu"}, {"max_position_embeddings", d.maxT},
         {"rms_norm_eps", cfg_.norm_eps}, {"rope_theta", cfg_.rope_theta},
         {"initializer_range", cfg_.init_std}, {"tie_word_embeddings", cfg_.tie_embeddings},
         {"attention_dropout", 0.0}};
    if (qwen) j["use_sliding_window"] = false;
    else j["attention_bias"] = false, j["mlp_bias"] = false;
    const config::RopeScalingConfig& rs = cfg_.rope_scaling;
    if (rs.factor > 0.0) {
      j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", rs.factor},
                           {"low_freq_factor", rs.low_freq_factor}, {"high_freq_factor", rs.high_freq_factor},
                           {"original_max_position_embeddings", rs.original_max_position_embeddings}};
    } else {
      j["rope_scaling"] = nullptr;
    }
  }
  j["torch_dtype"] = "float32";
  return j;
}

}  // namespace primus::models
