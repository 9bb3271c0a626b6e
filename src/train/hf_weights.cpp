// Hugging Face weights in and out (see hf_weights.h).
#include "train/hf_weights.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <set>
#include <vector>

#include "core/error.h"
#include "models/hf_layout.h"
#include "models/shard.h"
#include "train/atomic_file.h"
#include "train/safetensors.h"

namespace primus::train {

namespace {

template <typename T>
T get_or(const nlohmann::json& j, const char* key, T fallback) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : it->get<T>();
}

std::vector<int64_t> dims_of(const Shape& s) { return {s.dims.begin(), s.dims.begin() + s.ndim}; }

// Transformers' own files sometimes drop the "transformer." / "model." prefix (the original gpt2).
const SafetensorsEntry* find_tensor(const SafetensorsReader& r, const std::string& name) {
  if (const auto* e = r.find(name)) return e;
  for (const char* prefix : {"transformer.", "model."})
    if (name.rfind(prefix, 0) == 0)
      if (const auto* e = r.find(name.substr(std::string(prefix).size()))) return e;
  return nullptr;
}

void compare_configs(const config::ModelConfig& ours, const config::ModelConfig& theirs, const std::string& dir) {
  std::vector<std::string> diffs;
  auto cmp = [&](const char* key, auto a, auto b) {
    if (a != b) diffs.push_back(fmt::format("{}: checkpoint {} vs experiment {}", key, b, a));
  };
  cmp("arch", ours.arch, theirs.arch);
  cmp("num_layers", ours.num_layers, theirs.num_layers);
  cmp("hidden_size", ours.hidden_size, theirs.hidden_size);
  cmp("num_attention_heads", ours.num_attention_heads, theirs.num_attention_heads);
  auto nkv = [](const config::ModelConfig& c) { return c.num_kv_heads ? c.num_kv_heads : c.num_attention_heads; };
  cmp("num_kv_heads", nkv(ours), nkv(theirs));
  if (theirs.ffn_hidden_size) cmp("ffn_hidden_size", models::model_dims(ours).FF, theirs.ffn_hidden_size);
  cmp("vocab_size", ours.vocab_size, theirs.vocab_size);
  if (ours.arch == "gpt2") cmp("max_position_embeddings", ours.max_position_embeddings, theirs.max_position_embeddings);
  if (!diffs.empty()) {
    std::string list;
    for (const auto& d : diffs) list += "\n  " + d;
    throw Error(fmt::format("checkpoint {} is for a different model shape:{}", dir, list),
                "initialize from a checkpoint of the same model, or change the model section");
  }
}

}  // namespace

config::ModelConfig model_config_from_hf(const nlohmann::json& hf, const std::string& source) {
  config::ModelConfig m;
  const std::string type = get_or<std::string>(hf, "model_type", "");
  try {
    if (type == "gpt2") {
      m.arch = "gpt2";
      m.num_layers = hf.at("n_layer").get<int64_t>();
      m.hidden_size = hf.at("n_embd").get<int64_t>();
      m.num_attention_heads = hf.at("n_head").get<int64_t>();
      m.ffn_hidden_size = get_or<int64_t>(hf, "n_inner", 0);
      m.vocab_size = hf.at("vocab_size").get<int64_t>();
      m.max_position_embeddings = get_or<int64_t>(hf, "n_positions", 1024);
      m.norm_eps = get_or<double>(hf, "layer_norm_epsilon", 1e-5);
      m.tie_embeddings = get_or<bool>(hf, "tie_word_embeddings", true);
      m.qkv_bias = true;
    } else if (type == "llama" || type == "qwen2" || type == "mistral") {
      m.arch = "llama";
      m.num_layers = hf.at("num_hidden_layers").get<int64_t>();
      m.hidden_size = hf.at("hidden_size").get<int64_t>();
      m.num_attention_heads = hf.at("num_attention_heads").get<int64_t>();
      m.num_kv_heads = get_or<int64_t>(hf, "num_key_value_heads", m.num_attention_heads);
      m.ffn_hidden_size = hf.at("intermediate_size").get<int64_t>();
      m.vocab_size = hf.at("vocab_size").get<int64_t>();
      m.max_position_embeddings = get_or<int64_t>(hf, "max_position_embeddings", 2048);
      m.norm_eps = get_or<double>(hf, "rms_norm_eps", 1e-6);
      m.rope_theta = get_or<double>(hf, "rope_theta", 10000.0);
      m.tie_embeddings = get_or<bool>(hf, "tie_word_embeddings", false);
      m.qkv_bias = type == "qwen2" || get_or<bool>(hf, "attention_bias", false);
      auto rs = hf.find("rope_scaling");
      if (rs != hf.end() && rs->is_object() && get_or<std::string>(*rs, "rope_type", "") == "llama3") {
        m.rope_scaling.factor = rs->at("factor").get<double>();
        m.rope_scaling.low_freq_factor = get_or<double>(*rs, "low_freq_factor", 1.0);
        m.rope_scaling.high_freq_factor = get_or<double>(*rs, "high_freq_factor", 4.0);
        m.rope_scaling.original_max_position_embeddings =
            get_or<int64_t>(*rs, "original_max_position_embeddings", 8192);
      }
    } else {
      throw Error(fmt::format("{}: unsupported model_type '{}'", source, type),
                  "supported: gpt2, llama, qwen2, mistral");
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: incomplete {} config: {}", source, type, e.what()));
  }
  m.init_std = get_or<double>(hf, "initializer_range", 0.02);
  return m;
}

void save_hf_weights(const std::string& dir, models::Model& model, const nlohmann::json& config_extra) {
  Backend& backend = model.backend();
  std::vector<float> flat(static_cast<size_t>(model.num_params()));   // (P)
  backend.copy_to_host(flat.data(), model.params_buffer());
  const auto infos = model.params();
  const auto tensors = model.hf_tensors();
  std::vector<std::vector<float>> parts(tensors.size());
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    const auto& info = infos[static_cast<size_t>(t.param_index)];
    parts[i].resize(static_cast<size_t>(t.hf_shape.numel()));
    std::span<const float> param(flat.data() + info.offset, static_cast<size_t>(info.shape.numel()));
    models::hf_tensor_gather(parts[i], t, info, param);
    w.add(t.hf_name, DType::kF32, dims_of(t.hf_shape), parts[i].data());
  }
  w.write((std::filesystem::path(dir) / "model.safetensors").string());
  nlohmann::json hf = model.hf_config();
  if (config_extra.is_object()) hf.update(config_extra);
  write_file_atomic((std::filesystem::path(dir) / "config.json").string(), hf.dump(2) + "\n");
}

void save_hf_weights(const std::string& dir, models::Model& model, std::span<const float> full_params,
                     const nlohmann::json& config_extra) {
  const std::vector<models::ParamInfo> full = models::plan_params(model.config());
  PRIMUS_CHECK(static_cast<int64_t>(full_params.size()) == full.back().offset + full.back().shape.numel(),
               "{} full parameters", full_params.size());
  // Every tensor of the whole model (a pipeline stage holds only some): param_index into `full`.
  const auto tensors = models::hf_tensors_full(model.config());
  std::vector<std::vector<float>> parts(tensors.size());
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    const auto& info = full[static_cast<size_t>(t.param_index)];
    parts[i].resize(static_cast<size_t>(t.hf_shape.numel()));
    models::hf_tensor_gather(parts[i], t, info, full_params.subspan(info.offset, info.shape.numel()));
    w.add(t.hf_name, DType::kF32, dims_of(t.hf_shape), parts[i].data());
  }
  w.write((std::filesystem::path(dir) / "model.safetensors").string());
  nlohmann::json hf = model.hf_config();
  if (config_extra.is_object()) hf.update(config_extra);
  write_file_atomic((std::filesystem::path(dir) / "config.json").string(), hf.dump(2) + "\n");
}

void load_hf_weights(const std::string& dir, models::Model& model) {
  namespace fs = std::filesystem;
  const fs::path config_path = fs::path(dir) / "config.json";
  const fs::path weights_path = fs::path(dir) / "model.safetensors";
  const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  if (!fs::exists(weights_path) && !fs::exists(index_path))
    throw Error(fmt::format("no model.safetensors in {}", dir),
                "point at a checkpoint folder (e.g. runs/<exp>/checkpoints/latest)");
  if (fs::exists(config_path)) {
    nlohmann::json hf;
    try {
      hf = nlohmann::json::parse(read_file(config_path.string()));
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}: not valid JSON: {}", config_path.string(), e.what()));
    }
    compare_configs(model.config(), model_config_from_hf(hf, config_path.string()), dir);
  }
  // One file, or transformers' shards: model-0000N-of-0000M.safetensors listed in an index.
  std::vector<std::unique_ptr<SafetensorsReader>> readers;
  if (fs::exists(weights_path)) {
    readers.push_back(std::make_unique<SafetensorsReader>(weights_path.string()));
  } else {
    nlohmann::json index;
    try {
      index = nlohmann::json::parse(read_file(index_path.string()));
      std::set<std::string> files;
      for (const auto& [name, file] : index.at("weight_map").items()) files.insert(file.get<std::string>());
      for (const auto& f : files) readers.push_back(std::make_unique<SafetensorsReader>((fs::path(dir) / f).string()));
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}: not a valid safetensors index: {}", index_path.string(), e.what()));
    }
  }
  const auto infos = model.params();
  const auto tensors = model.hf_tensors();
  std::vector<const SafetensorsEntry*> found(tensors.size());
  std::vector<const SafetensorsReader*> owner(tensors.size());
  std::vector<std::string> problems;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    for (const auto& r : readers)
      if ((found[i] = find_tensor(*r, t.hf_name))) {
        owner[i] = r.get();
        break;
      }
    if (!found[i]) {
      problems.push_back(fmt::format("missing tensor {}", t.hf_name));
    } else if (found[i]->shape != dims_of(t.hf_shape)) {
      problems.push_back(fmt::format("{}: shape ({}) in the file, ({}) expected", t.hf_name,
                                     fmt::join(found[i]->shape, ", "), fmt::join(dims_of(t.hf_shape), ", ")));
    }
  }
  if (!problems.empty()) {
    std::string list;
    for (size_t i = 0; i < problems.size() && i < 10; ++i) list += "\n  " + problems[i];
    if (problems.size() > 10) list += fmt::format("\n  ... and {} more", problems.size() - 10);
    throw Error(fmt::format("the weights in {} do not match the model:{}", dir, list),
                "initialize from a checkpoint of the same model, or change the model section");
  }
  Backend& backend = model.backend();
  std::vector<float> flat(static_cast<size_t>(model.num_params()));   // (P)
  backend.copy_to_host(flat.data(), model.params_buffer());
  // Tensor parallel: the tensors go into the full layout (this rank's current values where it holds
  // them, so rows the file does not cover stay as they are), and this rank takes its slices back.
  const bool sharded = model.shard().tp_size() > 1;
  const std::vector<models::ParamInfo> full = sharded ? models::plan_params(model.config()) : std::vector<models::ParamInfo>{};
  if (sharded) flat = models::full_from_local(model, flat, /*replicated=*/true);
  std::vector<float> part;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    const models::ParamInfo* info = &infos[static_cast<size_t>(t.param_index)];
    if (sharded) info = &*std::find_if(full.begin(), full.end(), [&](const auto& f) { return f.name == info->name; });
    part.resize(static_cast<size_t>(t.hf_shape.numel()));
    owner[i]->read_f32(*found[i], part.data());
    std::span<float> param(flat.data() + info->offset, static_cast<size_t>(info->shape.numel()));
    models::hf_tensor_scatter(param, t, *info, part);
  }
  if (sharded) flat = models::local_from_full(model, flat);
  backend.copy_from_host(model.params_buffer(), flat.data());
}

}  // namespace primus::train
