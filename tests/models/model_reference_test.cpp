// Whole-model check against an independent implementation: JAX (float64) fixtures written by
// tests/fixtures/models/make_fixtures.py. For each tiny model, loss, logits and every parameter
// gradient agree to 1e-5 relative, and so do the losses of 10 AdamW steps (with global-norm clipping).
#include <gtest/gtest.h>

#include <cmath>

#include "fixture.h"
#include "runtime/backends.h"

namespace primus::models {
namespace {

using testing::SafetensorsFile;

constexpr double kTolerance = 1e-5;

struct Loaded {
  SafetensorsFile file;
  config::ModelConfig cfg;
  int64_t B, T;
  std::vector<int32_t> inputs, targets;  // (B,T)
  int64_t ignore_index;
  explicit Loaded(const std::string& name) : file(testing::fixture_path(name)) {
    cfg = testing::model_config_from_json(nlohmann::json::parse(file.meta("model")));
    const std::vector<int64_t> shape = file.shape("inputs");
    B = shape[0];
    T = shape[1];
    inputs = file.i32("inputs");
    targets = file.i32("targets");
    ignore_index = std::stoll(file.meta("ignore_index"));
  }
};

class ModelReference : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelReference, LossLogitsAndEveryGradientMatch) {
  Loaded fx(GetParam());
  auto backend = runtime::make_backend("cpu");
  Model model(fx.cfg, *backend, fx.B, fx.T);
  // Every fixture tensor that is a weight is named by hf_tensors(), and the other way round.
  const std::vector<HfTensor> hf = model.hf_tensors();
  int64_t weights_in_file = 0;
  for (const std::string& n : fx.file.names())
    if (n.rfind("model.", 0) == 0 || n.rfind("transformer.", 0) == 0 || n == "lm_head.weight") ++weights_in_file;
  ASSERT_EQ(static_cast<int64_t>(hf.size()), weights_in_file);
  for (const HfTensor& t : hf) {
    const std::vector<int64_t> s = fx.file.shape(t.hf_name);
    ASSERT_EQ(static_cast<int>(s.size()), t.hf_shape.ndim) << t.hf_name;
    for (int i = 0; i < t.hf_shape.ndim; ++i) ASSERT_EQ(s[i], t.hf_shape[i]) << t.hf_name;
  }
  testing::load_hf_weights(model, fx.file);
  backend->fill(model.grads_buffer(), 0.0f);
  // Poison the logits so a forward that skips writing them fails.
  backend->fill(model.logits(), std::nanf(""));

  const float loss = model.forward(fx.inputs.data(), fx.targets.data(), fx.ignore_index);
  const float ref_loss = fx.file.f32("loss")[0];
  EXPECT_NEAR(loss, ref_loss, kTolerance * std::abs(ref_loss));

  const ModelDims& d = model.dims();
  std::vector<float> logits_p(static_cast<size_t>(fx.B * fx.T * d.Vp));  // (B,T,Vp)
  backend->copy_to_host(logits_p.data(), model.logits());
  std::vector<float> logits;  // (B,T,V)
  for (int64_t r = 0; r < fx.B * fx.T; ++r)
    logits.insert(logits.end(), logits_p.begin() + r * d.Vp, logits_p.begin() + r * d.Vp + d.V);
  EXPECT_LT(testing::relative_error(logits, fx.file.f32("logits")), kTolerance);

  model.backward();
  std::vector<float> grads(static_cast<size_t>(model.num_params()));  // (P)
  backend->copy_to_host(grads.data(), model.grads_buffer());
  const auto infos = model.params();
  for (const HfTensor& t : hf) {
    const ParamInfo& info = infos[t.param_index];
    std::vector<float> g(static_cast<size_t>(t.hf_shape.numel()));
    hf_tensor_gather(g, t, info,
                     std::span<const float>(grads.data() + info.offset, static_cast<size_t>(info.shape.numel())));
    const std::vector<float> ref = fx.file.f32("grad." + t.hf_name);
    EXPECT_LT(testing::relative_error(g, ref), kTolerance) << t.hf_name;
  }
  // Padded vocabulary rows get no gradient.
  for (const ParamInfo& info : infos) {
    if (info.name != "wte.weight" && info.name != "embed.weight" && info.name != "lm_head.weight") continue;
    for (int64_t i = d.V * d.C; i < d.Vp * d.C; ++i) ASSERT_EQ(grads[info.offset + i], 0.0f) << info.name;
  }
}

// Contiguous runs of parameters that share a weight decay.
std::vector<ParamSegment> decay_segments(std::span<const ParamInfo> infos, float weight_decay) {
  std::vector<ParamSegment> out;
  for (const ParamInfo& p : infos) {
    const float wd = p.decay ? weight_decay : 0.0f;
    if (!out.empty() && out.back().weight_decay == wd && out.back().offset + out.back().size == p.offset) {
      out.back().size += p.shape.numel();
    } else {
      out.push_back({p.offset, p.shape.numel(), wd});
    }
  }
  return out;
}

TEST_P(ModelReference, TenAdamWStepLossesMatch) {
  Loaded fx(GetParam());
  const nlohmann::json opt = nlohmann::json::parse(fx.file.meta("adamw"));
  auto backend = runtime::make_backend("cpu");
  Model model(fx.cfg, *backend, fx.B, fx.T);
  testing::load_hf_weights(model, fx.file);
  const int64_t P = model.num_params();
  Buffer state = backend->alloc(static_cast<size_t>(3 * P) * sizeof(float));
  Tensor m = state.as(DType::kF32, {P});                          // (P)
  Tensor v = state.as(DType::kF32, {P}, P * sizeof(float));       // (P)
  Tensor norm2 = state.as(DType::kF32, {1}, 2 * P * sizeof(float));  // (1)
  const std::vector<ParamSegment> segments = decay_segments(model.params(), opt["weight_decay"].get<float>());
  const std::vector<float> ref = fx.file.f32("adamw_losses");
  const float clip = opt["grad_clip_norm"].get<float>();
  for (int64_t step = 1; step <= opt["steps"].get<int64_t>(); ++step) {
    model.zero_grads();
    const float loss = model.forward(fx.inputs.data(), fx.targets.data(), fx.ignore_index);
    EXPECT_NEAR(loss, ref[step - 1], kTolerance * std::abs(ref[step - 1])) << "step " << step;
    model.backward();
    backend->grad_norm_squared(norm2, model.grads_buffer());
    float n2 = 0.0f;
    backend->copy_to_host(&n2, norm2);
    const float norm = std::sqrt(n2);
    AdamWArgs args{.lr = opt["lr"].get<float>(), .beta1 = opt["beta1"].get<float>(),
                   .beta2 = opt["beta2"].get<float>(), .eps = opt["eps"].get<float>(), .step = step,
                   .grad_scale = norm > clip ? clip / norm : 1.0f};
    backend->adamw_update(model.params_buffer(), Tensor{}, m, v, model.grads_buffer(), segments, args);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelReference, ::testing::Values("gpt2_tiny", "llama_tiny", "qwen_tiny"));

}  // namespace
}  // namespace primus::models
