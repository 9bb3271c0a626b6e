// Test helpers: a minimal safetensors reader for the committed reference fixtures
// (tests/fixtures/models/*.safetensors, written by make_fixtures.py), a ModelConfig built from a
// fixture's metadata, and loading Hugging Face tensors into a Model's flat parameter buffer.
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/experiment.h"
#include "core/error.h"
#include "models/hf_layout.h"
#include "models/model.h"

namespace primus::models::testing {

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    PRIMUS_CHECK(in.good(), "cannot open {}", path);
    uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), 8);
    std::string header(n, '\0');
    in.read(header.data(), static_cast<std::streamsize>(n));
    header_ = nlohmann::json::parse(header);
    data_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  bool has(const std::string& name) const { return header_.contains(name); }
  std::string meta(const std::string& key) const { return header_["__metadata__"][key].get<std::string>(); }
  std::vector<int64_t> shape(const std::string& name) const { return entry(name)["shape"].get<std::vector<int64_t>>(); }
  // Tensor names other than __metadata__.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (auto it = header_.begin(); it != header_.end(); ++it)
      if (it.key() != "__metadata__") out.push_back(it.key());
    return out;
  }
  template <typename T> std::vector<T> read(const std::string& name, const char* dtype) const {
    const nlohmann::json& e = entry(name);
    PRIMUS_CHECK(e["dtype"] == dtype, "{} is {}, not {}", name, e["dtype"].dump(), dtype);
    const auto off = e["data_offsets"].get<std::vector<size_t>>();
    std::vector<T> out((off[1] - off[0]) / sizeof(T));
    std::memcpy(out.data(), data_.data() + off[0], off[1] - off[0]);
    return out;
  }
  std::vector<float> f32(const std::string& name) const { return read<float>(name, "F32"); }
  std::vector<int32_t> i32(const std::string& name) const { return read<int32_t>(name, "I32"); }

 private:
  const nlohmann::json& entry(const std::string& name) const {
    PRIMUS_CHECK(header_.contains(name), "fixture has no tensor {}", name);
    return header_[name];
  }
  nlohmann::json header_;
  std::vector<char> data_;
};

inline std::string fixture_path(const std::string& name) {
  return std::string(PRIMUS_SOURCE_DIR) + "/tests/fixtures/models/" + name + ".safetensors";
}

// Our ModelConfig from the JSON make_fixtures.py stores (field names as in config/experiment.h).
inline config::ModelConfig model_config_from_json(const nlohmann::json& j) {
  config::ModelConfig c;
  c.arch = j.at("arch");
  c.num_layers = j.at("num_layers");
  c.hidden_size = j.at("hidden_size");
  c.num_attention_heads = j.at("num_attention_heads");
  c.num_kv_heads = j.value("num_kv_heads", 0);
  c.ffn_hidden_size = j.value("ffn_hidden_size", 0);
  c.vocab_size = j.at("vocab_size");
  c.make_vocab_size_divisible_by = j.value("make_vocab_size_divisible_by", 128);
  c.max_position_embeddings = j.at("max_position_embeddings");
  c.norm_eps = j.value("norm_eps", 1e-5);
  c.rope_theta = j.value("rope_theta", 10000.0);
  if (j.contains("rope_scaling")) {
    const nlohmann::json& r = j["rope_scaling"];
    c.rope_scaling.factor = r.at("factor");
    c.rope_scaling.low_freq_factor = r.at("low_freq_factor");
    c.rope_scaling.high_freq_factor = r.at("high_freq_factor");
    c.rope_scaling.original_max_position_embeddings = r.at("original_max_position_embeddings");
  }
  c.tie_embeddings = j.value("tie_embeddings", true);
  c.qkv_bias = j.value("qkv_bias", false);
  return c;
}

// Copies the Hugging Face tensors named by model.hf_tensors() from `file` (prefix + hf_name) into the
// model's parameter buffer; rows no tensor covers (padded vocabulary) are zero.
inline void load_hf_weights(Model& model, const SafetensorsFile& file) {
  std::vector<float> params(static_cast<size_t>(model.num_params()), 0.0f);  // (P)
  const auto infos = model.params();
  for (const HfTensor& t : model.hf_tensors()) {
    const ParamInfo& info = infos[t.param_index];
    const std::vector<float> src = file.f32(t.hf_name);
    std::span<float> dst(params.data() + info.offset, static_cast<size_t>(info.shape.numel()));
    hf_tensor_scatter(dst, t, info, src);
  }
  model.backend().copy_from_host(model.params_buffer(), params.data());
}

// max |a - b| / max |b|: the error relative to the tensor's scale.
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  PRIMUS_CHECK(a.size() == b.size(), "sizes {} and {}", a.size(), b.size());
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

}  // namespace primus::models::testing
