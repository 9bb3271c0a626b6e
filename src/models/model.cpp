// GPT-2 and Llama: parameter/activation planning, initialization, forward and backward, written
// top to bottom over Backend ops (see model.h). Backward runs the forward in reverse with one
// residual-gradient buffer (dres) that every norm backward accumulates into.
#include "models/model.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "core/error.h"
#include "core/rng.h"
#include "models/arena.h"
#include "models/rope.h"

namespace primus::models {

namespace {

std::string_view op_name(Op op) {
  switch (op) {
    case Op::kEncoder: return "encoder";
    case Op::kLayerNorm: return "layernorm";
    case Op::kRmsNorm: return "rmsnorm";
    case Op::kMatmul: return "matmul";
    case Op::kRope: return "rope";
    case Op::kAttention: return "attention";
    case Op::kGelu: return "gelu";
    case Op::kSwiglu: return "swiglu";
    case Op::kResidual: return "residual";
    case Op::kCrossEntropy: return "cross_entropy";
    default: return "other";
  }
}

}  // namespace

Model::Model(const config::ModelConfig& cfg, Backend& backend, int64_t B, int64_t T, DType compute,
             const ModelShard& shard, Recompute recompute)
    : cfg_(cfg), dims_(model_dims(cfg)), shard_(shard), backend_(backend), B_(B), T_(T), compute_(compute),
      recompute_(recompute) {
  ld_ = local_dims();   // tensor-parallel widths of this rank (model_tp.cpp)
  if (compute != DType::kF32 && compute != DType::kBF16)
    throw usage_error(fmt::format("the model computes in fp32 or bf16, not {}", dtype_name(compute)),
                      "set precision.compute=fp32 or bf16");
  PRIMUS_CHECK(B > 0 && T > 0, "B={} T={}", B, T);
  if (T > dims_.maxT)
    throw usage_error(fmt::format("sequence length {} exceeds model.max_position_embeddings {}", T, dims_.maxT),
                      "lower train.seq_len or raise model.max_position_embeddings");
  infos_ = plan_params(cfg, ld_.tp, ld_.rank);
  plan_stage();   // pipeline stage: keeps what this rank's chunks hold, under the full model's names
  auto find = [&](const std::string& name) {
    for (size_t i = 0; i < infos_.size(); ++i)
      if (infos_[i].name == name) return static_cast<int>(i);
    return -1;
  };
  const bool llama = dims_.llama;
  emb_ = find(llama ? "embed.weight" : "wte.weight");
  pos_ = find("wpe.weight");
  normf_w_ = find(llama ? "norm.weight" : "lnf.weight");
  normf_b_ = find("lnf.bias");
  head_ = cfg.tie_embeddings ? emb_ : find("lm_head.weight");
  layer_params_.resize(static_cast<size_t>(shard_.chunks * layers_per_chunk_));
  for (int64_t held = 0; held < static_cast<int64_t>(layer_params_.size()); ++held) {
    const std::string h = fmt::format("h.{}.", global_layer(held));
    LayerParams& lp = layer_params_[held];
    lp.norm1_w = find(h + (llama ? "attn_norm.weight" : "ln1.weight"));
    lp.norm1_b = find(h + "ln1.bias");
    lp.qkv_w = find(h + "attn.qkv.weight");
    lp.qkv_b = find(h + "attn.qkv.bias");
    lp.attn_proj_w = find(h + (llama ? "attn.o_proj.weight" : "attn.proj.weight"));
    lp.attn_proj_b = find(h + "attn.proj.bias");
    lp.norm2_w = find(h + (llama ? "mlp_norm.weight" : "ln2.weight"));
    lp.norm2_b = find(h + "ln2.bias");
    lp.fc_w = find(h + (llama ? "mlp.gate_up.weight" : "mlp.fc.weight"));
    lp.fc_b = find(h + "mlp.fc.bias");
    lp.proj_w = find(h + (llama ? "mlp.down.weight" : "mlp.proj.weight"));
    lp.proj_b = find(h + "mlp.proj.bias");
  }
  num_params_ = infos_.back().offset + infos_.back().shape.numel();
  check_backend_support();
  params_mem_ = backend_.alloc(static_cast<size_t>(num_params_) * sizeof(float));
  grads_mem_ = backend_.alloc(static_cast<size_t>(num_params_) * sizeof(float));
  params_ = params_mem_.as(DType::kF32, {num_params_});  // (P)
  grads_ = grads_mem_.as(DType::kF32, {num_params_});    // (P)
  if (compute_ != DType::kF32) {
    ArenaPlan plan;
    plan.add(&cparams_, compute_, {num_params_});
    plan.add(&logits_row_, DType::kF32, {dims_.Vp});
    compute_mem_ = plan.commit(backend_);
  }
  plan_activations();
  if (llama) {
    const RopeTables tables = rope_tables(cfg_, dims_.HS, T_);
    backend_.copy_from_host(rope_cos_, tables.cos.data());
    backend_.copy_from_host(rope_sin_, tables.sin.data());
  }
}

void Model::check_backend_support() const {
  std::vector<Op> ops = {Op::kEncoder, Op::kMatmul, Op::kAttention, Op::kResidual, Op::kCrossEntropy};
  if (compute_ != DType::kF32) ops.push_back(Op::kConvert);
  if (dims_.llama) {
    ops.insert(ops.end(), {Op::kRmsNorm, Op::kRope, Op::kSwiglu});
  } else {
    ops.insert(ops.end(), {Op::kLayerNorm, Op::kGelu});
  }
  for (Op op : ops)
    if (!backend_.supports(op, compute_))
      throw Error(fmt::format("backend {} does not support {} in {}", backend_.name(), op_name(op),
                              dtype_name(compute_)),
                  "use precision.compute=fp32 or another backend.device");
}

void Model::plan_activations() {
  const ModelDims& d = dims_;
  // Tensor parallel: this rank's heads and FFN columns; R rows of the residual stream (N/tp with SP).
  const int64_t N = B_ * T_, R = ld_.rows, QKV = ld_.QKV, A = ld_.A, FF = ld_.FF, FC = ld_.FC;
  const DType f = compute_, f32 = DType::kF32;  // activations in the compute dtype, statistics in fp32
  ArenaPlan plan;
  plan.shared = recompute_sharing();   // activation recompute: blocks share what they recompute (model_recompute.cpp)
  if (d.llama) {
    plan.add(&rope_cos_, f32, {T_, d.HS / 2});
    plan.add(&rope_sin_, f32, {T_, d.HS / 2});
  }
  // One slot of activations per chunk and micro-batch in flight (model_stage.cpp).
  slots_.resize(static_cast<size_t>(shard_.chunks * shard_.activation_slots));
  for (size_t k = 0; k < slots_.size(); ++k) {
    Slot& sl = slots_[k];
    const int chunk = static_cast<int>(k) / shard_.activation_slots;
    if (chunk_has_embedding(chunk)) plan.add(&sl.tokens, DType::kI32, {B_, T_});
    plan.add(&sl.encoded, f, {R, d.C});   // the embedding's output, or the stage's input
    sl.acts.resize(static_cast<size_t>(layers_per_chunk_));
    for (LayerActs& a : sl.acts) {
      plan.add(&a.norm1, f, {R, d.C});
      if (!d.llama) plan.add(&a.norm1_mean, f32, {R});
      plan.add(&a.norm1_rstd, f32, {R});
      plan.add(&a.qkv, f, {B_, T_, QKV});
      plan.add(&a.atty, f, {B_, T_, A});
      plan.add(&a.lse, f32, {B_, ld_.NH, T_});
      plan.add(&a.res1, f, {R, d.C});
      plan.add(&a.norm2, f, {R, d.C});
      if (!d.llama) plan.add(&a.norm2_mean, f32, {R});
      plan.add(&a.norm2_rstd, f32, {R});
      plan.add(&a.fch, f, {N, FC});
      plan.add(&a.fch_act, f, {N, FF});
      plan.add(&a.res2, f, {R, d.C});
    }
    if (!chunk_has_head(chunk)) continue;
    plan.add(&sl.targets, DType::kI32, {N});
    plan.add(&sl.normf, f, {R, d.C});
    if (!d.llama) plan.add(&sl.normf_mean, f32, {R});
    plan.add(&sl.normf_rstd, f32, {R});
    plan.add(&sl.logits, f, {B_, T_, ld_.Vs});
    plan.add(&sl.losses, f32, {N});
  }
  acts_.resize(static_cast<size_t>(shard_.chunks * layers_per_chunk_));
  Scratch& s = scratch_;
  plan.add(&s.dres, f, {R, d.C});
  plan.add(&s.dnorm, f, {R, d.C});
  plan.add(&s.dqkv, f, {B_, T_, QKV});
  if (d.llama) plan.add(&s.dqkv_rot, f, {B_, T_, QKV});
  plan.add(&s.datty, f, {B_, T_, A});
  plan.add(&s.dfch, f, {N, FC});
  plan.add(&s.dfch_act, f, {N, FF});
  if (ld_.tp > 1) plan_tp(plan);
  activation_bytes_ = plan.bytes();
  acts_mem_ = plan.commit(backend_);
  chunk_ = slot_ = 0;
  select(0, 0);
}

Tensor Model::param(int index) {
  cparams_current_ = false;   // the caller may write it
  const ParamInfo& info = infos_.at(static_cast<size_t>(index));
  return params_.slice(info.offset, info.shape);
}

Tensor Model::grad(int index) {
  const ParamInfo& info = infos_.at(static_cast<size_t>(index));
  return grads_.slice(info.offset, info.shape);
}

Tensor Model::p(int index) {
  if (index < 0) return Tensor{};
  if (compute_ == DType::kF32) return param(index);
  const ParamInfo& info = infos_[static_cast<size_t>(index)];
  return cparams_.slice(info.offset, info.shape);
}

Tensor Model::g(int index) { return index < 0 ? Tensor{} : grad(index); }

void Model::init_weights(uint64_t seed) {
  Rng rng(seed);
  const float residual_std = static_cast<float>(cfg_.init_std / std::sqrt(2.0 * static_cast<double>(dims_.L)));
  auto ends_with = [](const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  // The draws follow the FULL model's parameter order and land in the parameters of the same name
  // this model holds, so a pipeline stage (and a tied head's own copy of the embedding) starts
  // from exactly the values of the one-device init. The backend draws them where the parameters
  // live (on a GPU: on the device, from the generator states the host jumps to).
  for (const ParamInfo& info : plan_params(cfg_)) {
    const bool draw = !info.is_bias && !info.is_norm;
    const bool residual = ends_with(info.name, "attn.proj.weight") || ends_with(info.name, "attn.o_proj.weight") ||
                          ends_with(info.name, "mlp.proj.weight") || ends_with(info.name, "mlp.down.weight");
    const float stddev = residual ? residual_std : static_cast<float>(cfg_.init_std);
    // Padded vocabulary rows stay zero: no token selects them and the loss ignores their logits.
    const bool vocab = info.name == "wte.weight" || info.name == "embed.weight" || info.name == "lm_head.weight";
    const int64_t n = !draw ? 0 : vocab ? dims_.V * dims_.C : info.shape.numel();
    for (size_t i = 0; i < infos_.size(); ++i) {
      if (infos_[i].name != info.name) continue;
      const int index = static_cast<int>(i);
      if (!draw) {   // norm weights 1, biases 0: the same on every slice
        backend_.fill(param(index), info.is_norm && !info.is_bias ? 1.0f : 0.0f);
      } else if (!infos_[i].slice.split()) {
        Tensor dst = param(index);
        if (n < dst.numel()) backend_.fill(dst, 0.0f);
        backend_.fill_normal(dst.slice(0, Shape{n}), rng.state(), stddev);
      } else {   // TP: draw the full tensor where it will live, keep this rank's slice
        Buffer full_mem = backend_.alloc(static_cast<size_t>(info.shape.numel()) * sizeof(float));   // zero-filled
        const Tensor full = full_mem.as(DType::kF32, info.shape);
        backend_.fill_normal(full.slice(0, Shape{n}), rng.state(), stddev);
        std::vector<float> host(static_cast<size_t>(info.shape.numel()));   // (shape)
        backend_.copy_to_host(host.data(), full);
        copy_from_full(index, host);
      }
    }
    rng.jump(2 * static_cast<uint64_t>(n));   // normal() takes two draws
  }
  backend_.synchronize();
}

void Model::zero_grads() { backend_.fill(grads_, 0.0f); }

float Model::forward(const int32_t* inputs, const int32_t* targets, int64_t ignore_index) {
  const ModelDims& d = dims_;
  const int64_t N = B_ * T_;
  const bool embedding = chunk_has_embedding(chunk_);   // else encoded_ holds the stage's input
  for (int64_t i = 0; embedding && i < N; ++i)
    if (inputs[i] < 0 || inputs[i] >= d.V)
      throw Error(fmt::format("token id {} at position {} is outside the vocabulary [0, {})", inputs[i], i, d.V),
                  "the data and model.vocab_size disagree: check the tokenizer");
  if (embedding) backend_.copy_from_host(tokens_, inputs);
  if (compute_ != DType::kF32 && !cparams_current_) {   // params_ may have moved since the last cast
    backend_.convert(cparams_, params_);
    cparams_current_ = true;
  }
  if (embedding && ld_.tp > 1) encoder_forward_tp();
  else if (embedding) backend_.encoder_forward(encoded_.view({B_, T_, d.C}), tokens_, p(emb_), p(pos_));
  Tensor x = encoded_;  // (N,C)
  const int64_t first = chunk_ * layers_per_chunk_;   // held block index of the chunk's first block
  for (int64_t l = first; l < first + layers_per_chunk_; ++l) {
    forward_block(l, x);
    x = acts_[l].res2;
  }
  if (!chunk_has_head(chunk_)) return 0.0f;
  const float eps = static_cast<float>(cfg_.norm_eps);
  if (d.llama) {
    backend_.rmsnorm_forward(normf_, normf_rstd_, x, p(normf_w_), eps);
  } else {
    backend_.layernorm_forward(normf_, normf_mean_, normf_rstd_, x, p(normf_w_), p(normf_b_), eps);
  }
  if (ld_.tp > 1) head_forward_tp();
  else backend_.matmul_forward(logits_.view({N, d.Vp}), normf_, p(head_), Tensor{});
  have_targets_ = targets != nullptr;
  if (!have_targets_) return 0.0f;
  valid_targets_ = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (targets[i] == ignore_index) continue;
    if (targets[i] < 0 || targets[i] >= d.V)
      throw Error(fmt::format("target id {} at position {} is outside the vocabulary [0, {})", targets[i], i, d.V),
                  "the data and model.vocab_size disagree: check the tokenizer");
    ++valid_targets_;
  }
  ignore_index_ = ignore_index;
  backend_.copy_from_host(targets_, targets);
  if (ld_.tp > 1) cross_entropy_forward_tp(targets);   // losses_ from the vocabulary-parallel logits
  else backend_.cross_entropy_forward(losses_, logits_.view({N, d.Vp}), targets_, d.V, ignore_index);
  if (!loss_sum_.empty()) {  // forward_accumulate: the loss stays on the device
    backend_.sum_accumulate(loss_sum_, losses_, valid_targets_ > 0 ? loss_weight_ / static_cast<float>(valid_targets_) : 0.0f);
    return 0.0f;
  }
  std::vector<float> losses(static_cast<size_t>(N));  // (N)
  backend_.copy_to_host(losses.data(), losses_);
  double sum = 0.0;
  for (float v : losses) sum += v;
  return valid_targets_ > 0 ? static_cast<float>(sum / static_cast<double>(valid_targets_)) : 0.0f;
}

void Model::forward_block(int64_t l, Tensor x) {
  const ModelDims& d = dims_;
  const LayerParams& lp = layer_params_[l];
  LayerActs& a = acts_[l];
  const int64_t N = B_ * T_;
  const float eps = static_cast<float>(cfg_.norm_eps);
  if (d.llama) {
    backend_.rmsnorm_forward(a.norm1, a.norm1_rstd, x, p(lp.norm1_w), eps);
  } else {
    backend_.layernorm_forward(a.norm1, a.norm1_mean, a.norm1_rstd, x, p(lp.norm1_w), p(lp.norm1_b), eps);
  }
  // Tensor parallel: column-parallel QKV over this rank's heads (the normed rows all-gathered first
  // under SP), row-parallel projection whose partial sums are all-reduced (SP: reduce-scattered).
  const int64_t NH = ld_.NH, NKV = ld_.NKV;
  backend_.matmul_forward(a.qkv.view({N, ld_.QKV}), gather_rows(a.norm1), p(lp.qkv_w), p(lp.qkv_b));
  if (d.llama) backend_.rope_forward(a.qkv, a.qkv, rope_cos_, rope_sin_, NH, NKV);
  backend_.attention_forward(a.atty, a.lse, a.qkv, NH, NKV);
  Tensor partial = row_partial(a.res1);  // (N,C)
  backend_.matmul_forward(partial, a.atty.view({N, ld_.A}), p(lp.attn_proj_w), row_bias(lp.attn_proj_b));
  reduce_rows(a.res1, partial);
  // res1 = x + attention branch and its norm in one pass (llama: RMSNorm, norm2_mean empty).
  backend_.residual_norm_forward(a.res1, a.norm2, a.norm2_mean, a.norm2_rstd, x, a.res1, p(lp.norm2_w),
                                 p(lp.norm2_b), eps);
  Tensor norm2 = gather_rows(a.norm2);  // (N,C)
  if (d.llama) {
    backend_.matmul_forward(a.fch, norm2, p(lp.fc_w), p(lp.fc_b));
    backend_.swiglu_forward(a.fch_act, a.fch);
  } else {
    backend_.matmul_gelu_forward(a.fch_act, a.fch, norm2, p(lp.fc_w), p(lp.fc_b));
  }
  partial = row_partial(a.res2);
  backend_.matmul_forward(partial, a.fch_act, p(lp.proj_w), row_bias(lp.proj_b));
  reduce_rows(a.res2, partial);
  backend_.residual_forward(a.res2, a.res1, a.res2);
}

void Model::backward(float loss_scale) {
  const bool head = chunk_has_head(chunk_);   // else stage_output_grad() holds d(output)
  PRIMUS_CHECK(have_targets_ || !head, "backward() needs a forward() with targets first");
  have_targets_ = false;  // the logits become dlogits below
  const ModelDims& d = dims_;
  const int64_t N = B_ * T_;
  Scratch& s = scratch_;
  const float grad_scale = valid_targets_ > 0 ? loss_scale / static_cast<float>(valid_targets_) : 0.0f;
  const int64_t first = chunk_ * layers_per_chunk_, last = first + layers_per_chunk_ - 1;  // held blocks
  if (head) {
    if (ld_.tp > 1) {
      head_backward_tp(grad_scale);   // s.dnorm = d normf_
    } else {
      Tensor dlogits = logits_.view({N, d.Vp});  // in place over the logits
      backend_.cross_entropy_backward(dlogits, dlogits, targets_, d.V, ignore_index_, grad_scale, losses_);
      backend_.matmul_backward(s.dnorm, g(head_), Tensor{}, dlogits, normf_, p(head_), /*accumulate_dinp=*/false);
    }
    backend_.fill(s.dres, 0.0f);
    Tensor x = acts_[last].res2;  // (N,C)
    if (d.llama) {
      backend_.rmsnorm_backward(s.dres, g(normf_w_), s.dnorm, x, p(normf_w_), normf_rstd_);
    } else {
      backend_.layernorm_backward(s.dres, g(normf_w_), g(normf_b_), s.dnorm, x, p(normf_w_), normf_mean_,
                                  normf_rstd_);
    }
    grads_ready({normf_w_, normf_b_, head_ != emb_ ? head_ : -1});   // a tied head: with the embedding
  }
  for (int64_t l = last; l >= first; --l) {
    backward_block(l, l > first ? acts_[l - 1].res2 : encoded_);
    block_grads_ready(l);
  }
  if (chunk_has_embedding(chunk_)) {
    if (ld_.tp > 1) encoder_backward_tp();
    else backend_.encoder_backward(g(emb_), g(pos_), s.dres.view({B_, T_, d.C}), tokens_);
    grads_ready({emb_, pos_});
  }
}

void Model::block_grads_ready(int64_t l) {
  const LayerParams& lp = layer_params_[l];
  grads_ready({lp.norm1_w, lp.norm1_b, lp.qkv_w, lp.qkv_b, lp.attn_proj_w, lp.attn_proj_b, lp.norm2_w, lp.norm2_b,
               lp.fc_w, lp.fc_b, lp.proj_w, lp.proj_b});
}

void Model::grads_ready(std::initializer_list<int> params) {
  if (!grad_ready_) return;
  std::vector<std::pair<int64_t, int64_t>> runs;   // [begin, end) of grads_, merged where adjacent
  for (int i : params) {
    if (i < 0) continue;
    const ParamInfo& info = infos_[static_cast<size_t>(i)];
    runs.emplace_back(info.offset, info.offset + info.shape.numel());
  }
  std::sort(runs.begin(), runs.end());
  for (size_t k = 0; k < runs.size();) {
    int64_t begin = runs[k].first, end = runs[k].second;
    for (++k; k < runs.size() && runs[k].first == end; ++k) end = runs[k].second;
    grad_ready_(begin, end - begin);
  }
}

void Model::backward_block(int64_t l, Tensor x) {
  recompute_block(l, x);   // what activation recompute dropped (model_recompute.cpp)
  const ModelDims& d = dims_;
  const LayerParams& lp = layer_params_[l];
  LayerActs& a = acts_[l];
  Scratch& s = scratch_;
  const int64_t N = B_ * T_;
  // MLP branch: res2 = res1 + proj(act(fc(norm2(res1)))); s.dres holds d res2. Tensor parallel: the
  // row-parallel projection takes the full d res2 (SP: all-gathered); the column-parallel linear's
  // input gradient is a partial sum, all-reduced (SP: reduce-scattered) before the norm.
  if (d.llama) {
    backend_.matmul_backward(s.dfch_act, g(lp.proj_w), g(lp.proj_b), gather_rows(s.dres), a.fch_act, p(lp.proj_w),
                             /*accumulate_dinp=*/false);
    backend_.swiglu_backward(s.dfch, s.dfch_act, a.fch);   // writes s.dfch
  } else {  // writes s.dfch = gelu'(fch) * (d res2 @ proj_w), one GEMM on CUDA (DGELU epilogue)
    backend_.gelu_matmul_backward(s.dfch, s.dfch_act, g(lp.proj_w), g(lp.proj_b), gather_rows(s.dres), a.fch_act,
                                  a.fch, p(lp.proj_w));
  }
  Tensor dnorm = row_partial(s.dnorm);  // (N,C)
  backend_.matmul_backward(dnorm, g(lp.fc_w), g(lp.fc_b), s.dfch, gather_rows(a.norm2), p(lp.fc_w),
                           /*accumulate_dinp=*/false);
  reduce_rows(s.dnorm, dnorm);
  if (d.llama) {
    backend_.rmsnorm_backward(s.dres, g(lp.norm2_w), s.dnorm, a.res1, p(lp.norm2_w), a.norm2_rstd);
  } else {
    backend_.layernorm_backward(s.dres, g(lp.norm2_w), g(lp.norm2_b), s.dnorm, a.res1, p(lp.norm2_w),
                                a.norm2_mean, a.norm2_rstd);
  }
  // Attention branch: res1 = x + proj(attention(rope(qkv(norm1(x))))); s.dres now holds d res1.
  backend_.matmul_backward(s.datty.view({N, ld_.A}), g(lp.attn_proj_w), g(lp.attn_proj_b), gather_rows(s.dres),
                           a.atty.view({N, ld_.A}), p(lp.attn_proj_w), /*accumulate_dinp=*/false);
  Tensor dqkv_attn = d.llama ? s.dqkv_rot : s.dqkv;  // (B,T,QKV) gradient of attention's input
  backend_.fill(dqkv_attn, 0.0f);
  backend_.attention_backward(dqkv_attn, s.datty, a.qkv, a.atty, a.lse, ld_.NH, ld_.NKV);
  if (d.llama) {
    backend_.rope_backward(s.dqkv, s.dqkv_rot, rope_cos_, rope_sin_, ld_.NH, ld_.NKV);   // writes s.dqkv
  }
  dnorm = row_partial(s.dnorm);
  backend_.matmul_backward(dnorm, g(lp.qkv_w), g(lp.qkv_b), s.dqkv.view({N, ld_.QKV}), gather_rows(a.norm1),
                           p(lp.qkv_w), /*accumulate_dinp=*/false);
  reduce_rows(s.dnorm, dnorm);
  if (d.llama) {
    backend_.rmsnorm_backward(s.dres, g(lp.norm1_w), s.dnorm, x, p(lp.norm1_w), a.norm1_rstd);
  } else {
    backend_.layernorm_backward(s.dres, g(lp.norm1_w), g(lp.norm1_b), s.dnorm, x, p(lp.norm1_w), a.norm1_mean,
                                a.norm1_rstd);
  }
}

std::vector<float> Model::forward_last_logits(std::span<const int32_t> tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  PRIMUS_CHECK(n >= 1 && n <= T_, "{} tokens for a model planned for T={}", n, T_);
  PRIMUS_CHECK(ld_.tp == 1, "inference runs on one device, not on a tensor-parallel shard");
  std::vector<int32_t> inputs(static_cast<size_t>(B_ * T_), 0);  // (B,T), row 0 holds the tokens
  std::copy(tokens.begin(), tokens.end(), inputs.begin());
  forward(inputs.data(), nullptr);
  std::vector<float> out(static_cast<size_t>(dims_.V));  // (V)
  Tensor row = logits_.slice((n - 1) * dims_.Vp, {dims_.Vp});  // (Vp) compute dtype
  if (compute_ != DType::kF32) {
    backend_.convert(logits_row_, row);
    row = logits_row_;
  }
  backend_.copy_to_host(out.data(), row.slice(0, {dims_.V}));
  return out;
}

}  // namespace primus::models
