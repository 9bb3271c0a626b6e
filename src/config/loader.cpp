// load_experiment: files -> one tree (extends, interpolation, --set, preset) -> typed structs ->
// validation. Problems are collected along the way and thrown together at the end.
#include "config/loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "config/schema.h"
#include "core/error.h"

#ifndef PRIMUS_CONFIG_PRESETS_DIR
#define PRIMUS_CONFIG_PRESETS_DIR ""
#endif

namespace primus::config {
namespace fs = std::filesystem;
namespace {

void set_label(Node& node, const std::string& label) {
  node.origin.label = label;
  for (Node& item : node.list) set_label(item, label);
  for (auto& [key, value] : node.map) set_label(value, label);
}

class TreeLoader {
 public:
  std::vector<std::string> errors;
  std::vector<std::string> files;

  // One file with everything it extends merged underneath it. `label` marks preset origins.
  Node load(const std::string& path, const std::string& label) {
    std::vector<std::pair<std::string, std::string>> chain;  // (canonical, as shown) of the files being read
    return load_recursive(fs::path(path).lexically_normal().string(), label, chain);
  }

 private:
  Node load_recursive(const std::string& path, const std::string& label,
                      std::vector<std::pair<std::string, std::string>>& chain) {
    std::error_code ec;
    std::string canonical = fs::weakly_canonical(path, ec).string();
    files.push_back(path);
    Node tree = parse_file(path, errors);
    if (tree.kind == Node::Kind::kNull) return Node::empty_map();
    if (tree.kind != Node::Kind::kMap) {
      errors.push_back(fmt::format("{}: the top level must be a map of sections", tree.origin.str()));
      return Node::empty_map();
    }
    if (!label.empty()) set_label(tree, label);
    interpolate(tree, errors);
    const Node* extends = tree.find("extends");
    if (extends == nullptr) return tree;

    std::vector<const Node*> parents;
    if (extends->kind == Node::Kind::kScalar) parents.push_back(extends);
    else if (extends->kind == Node::Kind::kList)
      for (const Node& item : extends->list) parents.push_back(&item);
    else if (extends->kind != Node::Kind::kNull)
      errors.push_back(fmt::format("{}: extends: expected a file or a list of files", extends->origin.str()));

    chain.emplace_back(canonical, path);
    Node base = Node::empty_map();
    for (const Node* parent : parents) {
      if (parent->kind != Node::Kind::kScalar) {
        errors.push_back(fmt::format("{}: extends: expected a file name", parent->origin.str()));
        continue;
      }
      fs::path target = (fs::path(path).parent_path() / parent->scalar).lexically_normal();
      std::string target_canonical = fs::weakly_canonical(target, ec).string();
      auto it = std::find_if(chain.begin(), chain.end(), [&](const auto& c) { return c.first == target_canonical; });
      if (it != chain.end()) {
        std::string shown;
        for (auto c = it; c != chain.end(); ++c) shown += c->second + " -> ";
        errors.push_back(fmt::format("{}: extends: cycle {}{}", parent->origin.str(), shown, target.string()));
        continue;
      }
      if (!fs::is_regular_file(target)) {
        errors.push_back(fmt::format("{}: extends: no such file {}", parent->origin.str(), target.string()));
        continue;
      }
      merge_into(base, load_recursive(target.string(), label, chain));
    }
    chain.pop_back();
    tree.erase("extends");
    merge_into(base, tree);
    return base;
  }
};

std::vector<std::string> split_overrides_key(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', start)) {
    parts.push_back(key.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(key.substr(start));
  return parts;
}

void apply_override(Node& tree, const std::string& text, std::vector<std::string>& errors) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    errors.push_back(fmt::format("--set {}: expected key=value, e.g. --set optim.lr=3e-4", text));
    return;
  }
  std::string key = text.substr(0, eq);
  Origin origin = Origin::labeled("--set " + text);
  if (is_section(key)) {
    errors.push_back(fmt::format("{}: {}: is a section; set one of its fields, e.g. {}.<field>=...", origin.str(), key, key));
    return;
  }
  if (find_field(key) == nullptr) {
    std::string suggestion = suggest_key(key);
    errors.push_back(fmt::format("{}: {}: unknown key{}", origin.str(), key,
                                 suggestion.empty() ? "" : fmt::format("; did you mean {}?", suggestion)));
    return;
  }
  Node value = parse_yaml_text(text.substr(eq + 1), origin, errors);
  Node* node = &tree;
  std::vector<std::string> parts = split_overrides_key(key);
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    Node* child = node->find(parts[i]);
    if (child == nullptr || child->kind != Node::Kind::kMap) {
      node->set(parts[i], Node::empty_map(origin));
      child = node->find(parts[i]);
    }
    node = child;
  }
  node->set(parts.back(), std::move(value));
}

std::string find_preset_file(const std::string& name, const std::vector<std::string>& dirs) {
  for (const std::string& dir : dirs)
    for (const char* ext : {".yaml", ".yml", ".toml"})
      if (fs::path file = fs::path(dir) / (name + ext); fs::is_regular_file(file)) return file.string();
  return "";
}

// Puts the preset named by model.preset underneath `tree`.
void apply_preset(Node& tree, const std::string& experiment_path, TreeLoader& loader) {
  const Node* model = tree.find("model");
  const Node* preset = model && model->kind == Node::Kind::kMap ? model->find("preset") : nullptr;
  if (preset == nullptr || preset->kind != Node::Kind::kScalar || preset->scalar.empty()) return;
  const std::string name = preset->scalar;
  std::vector<std::string> dirs = presets_search_path(experiment_path);
  std::string file = find_preset_file(name, dirs);
  if (file.empty()) {
    std::string best;
    size_t best_distance = 4;
    for (const std::string& known : list_presets(experiment_path))
      if (size_t d = edit_distance(name, known); d < best_distance) best_distance = d, best = known;
    std::string searched;
    for (const std::string& d : dirs) searched += (searched.empty() ? "" : ", ") + d;
    loader.errors.push_back(fmt::format("{}: model.preset: unknown preset '{}'{} (searched: {})", preset->origin.str(),
                                        name, best.empty() ? "" : fmt::format("; did you mean {}?", best),
                                        searched.empty() ? "no presets directory found" : searched));
    return;
  }
  Node preset_tree = loader.load(file, "preset " + name);
  for (const auto& [key, value] : preset_tree.map) {
    if (key != "model") {
      loader.errors.push_back(fmt::format("{}: {}: a preset may only set model.* keys", value.origin.str(), key));
    } else if (value.kind == Node::Kind::kMap && value.find("preset") != nullptr) {
      loader.errors.push_back(
          fmt::format("{}: model.preset: a preset cannot name another preset (use extends)", value.find("preset")->origin.str()));
    }
  }
  Node base = Node::empty_map();
  if (const Node* preset_model = preset_tree.find("model")) base.set("model", *preset_model);
  merge_into(base, tree);
  tree = std::move(base);
}

std::string describe(const Node& node) {
  switch (node.kind) {
    case Node::Kind::kNull: return "nothing";
    case Node::Kind::kScalar: return fmt::format("'{}'", node.scalar);
    case Node::Kind::kList: return "a list";
    case Node::Kind::kMap: return "a map";
  }
  return "?";
}

template <typename T>
bool parse_integer(std::string text, T& out) {
  text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
  if (!text.empty() && text[0] == '+') text.erase(0, 1);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool parse_double(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

bool parse_bool(const std::string& text, bool& out) {
  std::string lower = text;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "true") return out = true, true;
  if (lower == "false") return out = false, true;
  return false;
}

// A path, or a Megatron-style blend [w1, p1, w2, p2, ...], or a list of paths (equal weights).
bool parse_sources(const Node& node, std::vector<DataSource>& out) {
  out.clear();
  if (node.kind == Node::Kind::kNull) return true;
  if (node.kind == Node::Kind::kScalar) {
    out.push_back(DataSource{.weight = 1.0, .path = node.scalar});
    return true;
  }
  if (node.kind != Node::Kind::kList) return false;
  for (const Node& item : node.list)
    if (item.kind != Node::Kind::kScalar) return false;
  double weight = 0.0;
  bool weighted = !node.list.empty() && parse_double(node.list[0].scalar, weight);
  if (!weighted) {
    for (const Node& item : node.list) {
      if (parse_double(item.scalar, weight)) return false;
      out.push_back(DataSource{.weight = 1.0, .path = item.scalar});
    }
    return true;
  }
  if (node.list.size() % 2 != 0) return false;
  for (size_t i = 0; i < node.list.size(); i += 2) {
    if (!parse_double(node.list[i].scalar, weight) || parse_double(node.list[i + 1].scalar, weight)) return false;
    out.push_back(DataSource{.weight = std::strtod(node.list[i].scalar.c_str(), nullptr), .path = node.list[i + 1].scalar});
  }
  return true;
}

// Converts one value; returns false (and leaves the default) on a wrong type.
bool assign(const Field& field, const Node& node, ExperimentConfig& cfg) {
  void* p = field.access(cfg);
  if (field.type == FieldType::kDataSources) return parse_sources(node, *static_cast<std::vector<DataSource>*>(p));
  if (field.type == FieldType::kString && node.kind == Node::Kind::kNull) {
    static_cast<std::string*>(p)->clear();
    return true;
  }
  if (node.kind != Node::Kind::kScalar) return false;
  const std::string& text = node.scalar;
  switch (field.type) {
    case FieldType::kInt: return parse_integer(text, *static_cast<int64_t*>(p));
    case FieldType::kUInt: return text.find('-') == std::string::npos && parse_integer(text, *static_cast<uint64_t*>(p));
    case FieldType::kFloat: return parse_double(text, *static_cast<double*>(p));
    case FieldType::kBool: return parse_bool(text, *static_cast<bool*>(p));
    case FieldType::kString: *static_cast<std::string*>(p) = text; return true;
    case FieldType::kDataSources: break;
  }
  return false;
}

// Keys whose value could not be read are added to `unreadable`, so validation does not pile on.
void apply_tree(const Node& map, const std::string& prefix, LoadedExperiment& out, std::vector<std::string>& errors,
                std::set<std::string>& unreadable) {
  for (const auto& [key, value] : map.map) {
    std::string full = prefix.empty() ? key : prefix + "." + key;
    if (const Field* field = find_field(full)) {
      if (!assign(*field, value, out.config)) {
        std::string expected(type_name(field->type));
        if (field->type == FieldType::kDataSources) expected = "a path or a blend [weight, path, weight, path, ...]";
        errors.push_back(fmt::format("{}: {}: expected {}, got {}", value.origin.str(), full, expected, describe(value)));
        unreadable.insert(full);
      }
      out.provenance[full] = value.origin;
    } else if (is_section(full)) {
      if (value.kind == Node::Kind::kMap) apply_tree(value, full, out, errors, unreadable);
      else if (value.kind != Node::Kind::kNull)
        errors.push_back(fmt::format("{}: {}: is a section; expected a map of its fields, got {}", value.origin.str(),
                                     full, describe(value)));
    } else {
      std::string suggestion = suggest_key(full);
      errors.push_back(fmt::format("{}: {}: unknown key{}", value.origin.str(), full,
                                   suggestion.empty() ? "" : fmt::format("; did you mean {}?", suggestion)));
    }
  }
}

void throw_if_any(const std::string& path, const std::vector<std::string>& errors) {
  if (errors.empty()) return;
  std::string message =
      fmt::format("invalid configuration {} ({} problem{}):", path, errors.size(), errors.size() == 1 ? "" : "s");
  for (const std::string& e : errors) message += "\n  " + e;
  throw usage_error(message, "every key is listed in docs/configuration.md; "
                             "`primus config show -c FILE` prints the resolved config");
}

}  // namespace

std::vector<std::string> presets_search_path(const std::string& experiment_path) {
  std::vector<std::string> dirs;
  auto add = [&dirs](const fs::path& dir) {
    std::error_code ec;
    if (dir.empty() || !fs::is_directory(dir, ec)) return;
    std::string shown = dir.lexically_normal().string();
    if (std::find(dirs.begin(), dirs.end(), shown) == dirs.end()) dirs.push_back(shown);
  };
  if (const char* env = std::getenv("PRIMUS_PRESETS_DIR"); env != nullptr) {
    std::string list = env;
    for (size_t start = 0; start <= list.size();) {
      size_t colon = std::min(list.find(':', start), list.size());
      add(list.substr(start, colon - start));
      start = colon + 1;
    }
  }
  std::error_code ec;
  for (fs::path dir = fs::absolute(experiment_path, ec).parent_path(); !dir.empty(); dir = dir.parent_path()) {
    if (fs::path models = dir / "configs" / "models"; fs::is_directory(models, ec)) {
      fs::path shown = fs::relative(models, ec);
      add(shown.empty() || *shown.begin() == ".." ? models : shown);
      break;
    }
    if (dir == dir.parent_path()) break;
  }
  add(PRIMUS_CONFIG_PRESETS_DIR);
  return dirs;
}

std::vector<std::string> list_presets(const std::string& experiment_path) {
  std::vector<std::string> names;
  for (const std::string& dir : presets_search_path(experiment_path)) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::string ext = entry.path().extension().string();
      std::string name = entry.path().stem().string();
      if ((ext == ".yaml" || ext == ".yml" || ext == ".toml") &&
          std::find(names.begin(), names.end(), name) == names.end())
        names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

LoadedExperiment load_experiment_with_provenance(const std::string& path, const std::vector<std::string>& overrides) {
  TreeLoader loader;
  Node tree = loader.load(path, "");
  // Unreadable files, cycles and missing variables stop here: typing a half-read tree only adds noise.
  throw_if_any(path, loader.errors);
  std::vector<std::string> override_errors;
  for (const std::string& text : overrides) apply_override(tree, text, override_errors);
  apply_preset(tree, path, loader);
  if (!loader.errors.empty()) {
    override_errors.insert(override_errors.end(), loader.errors.begin(), loader.errors.end());
    throw_if_any(path, override_errors);
  }

  LoadedExperiment out;
  out.files = loader.files;
  std::vector<std::string> errors = std::move(override_errors);
  std::set<std::string> unreadable;
  apply_tree(tree, "", out, errors, unreadable);
  for (const Field& field : schema_fields())
    if (!out.provenance.count(std::string(field.key))) out.provenance[std::string(field.key)] = Origin::labeled("default");
  collect_problems(out.config, out.provenance, errors, unreadable);
  throw_if_any(path, errors);
  return out;
}

ExperimentConfig load_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  return load_experiment_with_provenance(path, overrides).config;
}

}  // namespace primus::config
