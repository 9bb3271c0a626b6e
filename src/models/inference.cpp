// KV-cache inference (see inference.h).
#include "models/inference.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "core/error.h"
#include "models/arena.h"
#include "models/rope.h"

namespace primus::models {

InferenceSession::InferenceSession(Model& model, int64_t max_T) : model_(model), d_(model.dims()), max_T_(max_T) {
  if (max_T < 1 || max_T > d_.maxT)
    throw usage_error(fmt::format("a context of {} tokens does not fit model.max_position_embeddings {}", max_T, d_.maxT),
                      "ask for fewer tokens");
  const int64_t QKV = d_.qkv_dim(), A = d_.NH * d_.HS, FC = d_.llama ? 2 * d_.FF : d_.FF;
  const DType f = DType::kF32;
  ArenaPlan plan;
  plan.add(&tokens_, DType::kI32, {1, max_T});
  plan.add(&x_, f, {max_T, d_.C});
  plan.add(&branch_, f, {max_T, d_.C});
  plan.add(&norm_, f, {max_T, d_.C});
  plan.add(&mean_, f, {max_T});
  plan.add(&rstd_, f, {max_T});
  plan.add(&qkv_, f, {max_T, QKV});
  plan.add(&atty_, f, {max_T, A});
  plan.add(&fch_, f, {max_T, FC});
  plan.add(&fch_act_, f, {max_T, d_.FF});
  plan.add(&normf_, f, {1, d_.C});
  plan.add(&normf_mean_, f, {1});
  plan.add(&normf_rstd_, f, {1});
  plan.add(&logits_, f, {1, d_.Vp});
  if (d_.llama) {
    plan.add(&rope_cos_, f, {max_T, d_.HS / 2});
    plan.add(&rope_sin_, f, {max_T, d_.HS / 2});
  }
  mem_ = plan.commit(model_.backend());
  if (d_.llama) {
    const RopeTables tables = rope_tables(model_.config(), d_.HS, max_T);
    model_.backend().copy_from_host(rope_cos_, tables.cos.data());
    model_.backend().copy_from_host(rope_sin_, tables.sin.data());
  }
  const size_t cache = static_cast<size_t>(d_.L * max_T * d_.NKV * d_.HS);
  k_cache_.assign(cache, 0.0f);
  v_cache_.assign(cache, 0.0f);
  host_qkv_.resize(static_cast<size_t>(max_T * QKV));
  host_atty_.resize(static_cast<size_t>(max_T * A));
}

std::vector<float> InferenceSession::step(std::span<const int32_t> new_tokens) {
  const int64_t n = static_cast<int64_t>(new_tokens.size());
  if (n < 1) throw Error("inference step without tokens");
  if (pos_ + n > max_T_)
    throw Error(fmt::format("the sequence would grow to {} tokens, past this session's {}", pos_ + n, max_T_),
                "start a new session or ask for fewer tokens");
  for (int32_t t : new_tokens)
    if (t < 0 || t >= d_.V) throw Error(fmt::format("token id {} is outside the vocabulary [0, {})", t, d_.V));
  Backend& be = model_.backend();
  Model& m = model_;
  const int64_t QKV = d_.qkv_dim(), A = d_.NH * d_.HS, FC = d_.llama ? 2 * d_.FF : d_.FF, half = d_.HS / 2;
  const float eps = static_cast<float>(m.config().norm_eps);
  Tensor tokens = tokens_.slice(0, {1, n});                     // (1,n)
  Tensor x = x_.slice(0, {n, d_.C});                            // (n,C)
  Tensor branch = branch_.slice(0, {n, d_.C});                  // (n,C)
  Tensor norm = norm_.slice(0, {n, d_.C});                      // (n,C)
  Tensor mean = mean_.slice(0, {n}), rstd = rstd_.slice(0, {n});  // (n)
  Tensor qkv = qkv_.slice(0, {1, n, QKV});                      // (1,n,QKV)
  Tensor atty = atty_.slice(0, {n, A});                         // (n,NH*HS)
  Tensor fch = fch_.slice(0, {n, FC});                          // (n,FC)
  Tensor fch_act = fch_act_.slice(0, {n, d_.FF});               // (n,FF)
  be.copy_from_host(tokens, new_tokens.data());
  Tensor wpe = m.pos_ >= 0 ? m.param(m.pos_).slice(pos_ * d_.C, {n, d_.C}) : Tensor{};  // positions [pos, pos+n)
  be.encoder_forward(x.view({1, n, d_.C}), tokens, m.param(m.emb_), wpe);
  auto w = [&](int index) { return index < 0 ? Tensor{} : m.param(index); };  // fp32 master weights
  auto normalize = [&](Tensor out, Tensor inp, int weight, int bias) {
    if (d_.llama) {
      be.rmsnorm_forward(out, rstd, inp, w(weight), eps);
    } else {
      be.layernorm_forward(out, mean, rstd, inp, w(weight), w(bias), eps);
    }
  };
  for (int64_t l = 0; l < d_.L; ++l) {
    const Model::LayerParams& lp = m.layer_params_[l];
    normalize(norm, x, lp.norm1_w, lp.norm1_b);
    be.matmul_forward(qkv.view({n, QKV}), norm, w(lp.qkv_w), w(lp.qkv_b));
    if (d_.llama)
      be.rope_forward(qkv, qkv, rope_cos_.slice(pos_ * half, {n, half}), rope_sin_.slice(pos_ * half, {n, half}),
                      d_.NH, d_.NKV);
    be.copy_to_host(host_qkv_.data(), qkv);
    attention_host(l, n);
    be.copy_from_host(atty, host_atty_.data());
    be.matmul_forward(branch, atty, w(lp.attn_proj_w), w(lp.attn_proj_b));
    be.residual_forward(x, x, branch);
    normalize(norm, x, lp.norm2_w, lp.norm2_b);
    if (d_.llama) {
      be.matmul_forward(fch, norm, w(lp.fc_w), w(lp.fc_b));
      be.swiglu_forward(fch_act, fch);
    } else {
      be.matmul_gelu_forward(fch_act, fch, norm, w(lp.fc_w), w(lp.fc_b));
    }
    be.matmul_forward(branch, fch_act, w(lp.proj_w), w(lp.proj_b));
    be.residual_forward(x, x, branch);
  }
  Tensor last = x.slice((n - 1) * d_.C, {1, d_.C});  // (1,C)
  if (d_.llama) {
    be.rmsnorm_forward(normf_, normf_rstd_, last, w(m.normf_w_), eps);
  } else {
    be.layernorm_forward(normf_, normf_mean_, normf_rstd_, last, w(m.normf_w_), w(m.normf_b_), eps);
  }
  be.matmul_forward(logits_, normf_, m.param(m.head_), Tensor{});
  std::vector<float> out(static_cast<size_t>(d_.V));  // (V)
  be.copy_to_host(out.data(), logits_.slice(0, {d_.V}));
  pos_ += n;
  return out;
}

void InferenceSession::attention_host(int64_t layer, int64_t n) {
  const int64_t HS = d_.HS, QKV = d_.qkv_dim(), KV = d_.NKV * HS, group = d_.NH / d_.NKV;
  float* kc = k_cache_.data() + layer * max_T_ * KV;  // (max_T,NKV*HS)
  float* vc = v_cache_.data() + layer * max_T_ * KV;  // (max_T,NKV*HS)
  for (int64_t i = 0; i < n; ++i) {
    const float* row = host_qkv_.data() + i * QKV;  // [q heads | k heads | v heads]
    std::copy(row + d_.NH * HS, row + d_.NH * HS + KV, kc + (pos_ + i) * KV);
    std::copy(row + d_.NH * HS + KV, row + QKV, vc + (pos_ + i) * KV);
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  std::vector<float> scores(static_cast<size_t>(pos_ + n));  // (pos+n)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = pos_ + i;  // attends to positions [0, t]
    for (int64_t h = 0; h < d_.NH; ++h) {
      const float* q = host_qkv_.data() + i * QKV + h * HS;
      const int64_t kv = (h / group) * HS;
      float max_score = -INFINITY;
      for (int64_t s = 0; s <= t; ++s) {
        const float* k = kc + s * KV + kv;
        float dot = 0.0f;
        for (int64_t c = 0; c < HS; ++c) dot += q[c] * k[c];
        scores[s] = dot * scale;
        max_score = std::max(max_score, scores[s]);
      }
      double sum = 0.0;
      for (int64_t s = 0; s <= t; ++s) {
        scores[s] = std::exp(scores[s] - max_score);
        sum += scores[s];
      }
      float* out = host_atty_.data() + i * d_.NH * HS + h * HS;
      std::fill(out, out + HS, 0.0f);
      for (int64_t s = 0; s <= t; ++s) {
        const float w = static_cast<float>(scores[s] / sum);
        const float* v = vc + s * KV + kv;
        for (int64_t c = 0; c < HS; ++c) out[c] += w * v[c];
      }
    }
  }
}

}  // namespace primus::models
