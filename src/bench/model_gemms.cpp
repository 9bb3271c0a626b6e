// GEMM shapes of a model's training step (see model_gemms.h).
#include "bench/model_gemms.h"

#include <fmt/format.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "config/loader.h"
#include "core/error.h"
#include "models/model.h"

namespace primus::bench {

config::ModelConfig model_config_resolve(const std::string& name_or_path, int64_t seq_len) {
  if (std::filesystem::is_regular_file(name_or_path)) return config::load_experiment(name_or_path).model;
  // A preset name: load a one-line experiment that names it, so the loader's search path applies.
  char path[] = "/tmp/primus-model-XXXXXX.yaml";
  int fd = mkstemps(path, 5);
  if (fd < 0) throw Error("cannot create a temporary file in /tmp", "check that /tmp is writable");
  std::string text = fmt::format("model:\n  preset: \"{}\"\ndata:\n  mock: true\ntrain:\n  seq_len: {}\n", name_or_path, seq_len);
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  try {
    if (!ok) throw Error("cannot write a temporary file in /tmp");
    config::ModelConfig m = config::load_experiment(path).model;
    std::remove(path);
    return m;
  } catch (...) {
    std::remove(path);
    throw;
  }
}

std::vector<ModelGemm> model_gemms(const config::ModelConfig& model, int64_t B, int64_t T, int64_t tensor, DType dtype) {
  if (B <= 0 || T <= 0 || tensor <= 0)
    throw usage_error(fmt::format("micro-batch {}, sequence length {} and tensor size {} must be positive", B, T, tensor));
  const models::ModelDims d = models::model_dims(model);
  const int64_t mlp_out = d.llama ? 2 * d.FF : d.FF;  // fused [gate | up] for SwiGLU
  for (auto [what, v] : {std::pair{"query heads", d.NH}, {"kv heads", d.NKV}, {"ffn size", d.FF}, {"padded vocab", d.Vp}})
    if (v % tensor != 0)
      throw usage_error(fmt::format("--tensor {} does not divide the model's {} ({})", tensor, what, v),
                        "choose a tensor-parallel size that divides heads, kv heads, ffn and vocab");
  const int64_t N = B * T;
  struct Linear {
    const char* name;
    int64_t out, in;
    bool per_layer;
  };
  const Linear linears[] = {
      {"qkv", d.qkv_dim() / tensor, d.C, true},
      {"attn_out", d.C, d.NH * d.HS / tensor, true},
      {"mlp_up", mlp_out / tensor, d.C, true},
      {"mlp_down", d.C, d.FF / tensor, true},
      {"lm_head", d.Vp / tensor, d.C, false},
  };
  std::vector<ModelGemm> out;
  for (const auto& l : linears) {
    const int64_t count = l.per_layer ? d.L : 1;
    // forward: y (N,out) = x (N,in) @ W (out,in)^T
    out.push_back({l.name, "fwd", {N, l.out, l.in, false, true, dtype}, count, l.per_layer});
    // input gradient: dx (N,in) = dy (N,out) @ W (out,in)
    out.push_back({l.name, "dgrad", {N, l.in, l.out, false, false, dtype}, count, l.per_layer});
    // weight gradient: dW (out,in) = dy (N,out)^T @ x (N,in)
    out.push_back({l.name, "wgrad", {l.out, l.in, N, true, false, dtype}, count, l.per_layer});
  }
  return out;
}

}  // namespace primus::bench
