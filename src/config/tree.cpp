// YAML (yaml-cpp) and TOML (toml++) files into one untyped tree with file:line origins; merge and
// ${VAR} interpolation on that tree.
#include "config/tree.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <toml++/toml.h>

namespace primus::config {
namespace {

std::string extension_of(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

Node from_yaml(const YAML::Node& y, const Origin& where, std::vector<std::string>& errors) {
  Node out;
  out.origin = where;
  if (y.Mark().line >= 0 && !y.IsNull()) out.origin.line = y.Mark().line + 1;
  switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null: out.kind = Node::Kind::kNull; break;
    case YAML::NodeType::Scalar:
      out.kind = Node::Kind::kScalar;
      out.scalar = y.Scalar();
      break;
    case YAML::NodeType::Sequence:
      out.kind = Node::Kind::kList;
      for (const YAML::Node& item : y) out.list.push_back(from_yaml(item, out.origin, errors));
      break;
    case YAML::NodeType::Map:
      out.kind = Node::Kind::kMap;
      for (const auto& entry : y) {
        Origin key_origin = where;
        key_origin.line = entry.first.Mark().line + 1;
        if (!entry.first.IsScalar()) {
          errors.push_back(fmt::format("{}: a key must be a plain name", key_origin.str()));
          continue;
        }
        std::string key = entry.first.Scalar();
        if (out.find(key)) {
          errors.push_back(fmt::format("{}: {}: key given twice", key_origin.str(), key));
          continue;
        }
        Node value = from_yaml(entry.second, key_origin, errors);
        value.origin = key_origin;
        out.map.emplace_back(key, std::move(value));
      }
      break;
  }
  return out;
}

Node from_toml(const toml::node& t, const Origin& where, std::vector<std::string>& errors) {
  Node out;
  out.origin = where;
  if (t.source().begin.line > 0) out.origin.line = static_cast<int>(t.source().begin.line);
  if (const toml::table* table = t.as_table()) {
    out.kind = Node::Kind::kMap;
    for (auto&& [key, value] : *table) {
      Origin key_origin = where;
      key_origin.line = key.source().begin.line > 0 ? static_cast<int>(key.source().begin.line) : out.origin.line;
      Node child = from_toml(value, key_origin, errors);
      child.origin = key_origin;
      out.map.emplace_back(std::string(key.str()), std::move(child));
    }
  } else if (const toml::array* array = t.as_array()) {
    out.kind = Node::Kind::kList;
    for (const toml::node& item : *array) out.list.push_back(from_toml(item, out.origin, errors));
  } else {
    out.kind = Node::Kind::kScalar;
    if (auto s = t.value<std::string>(); s && t.is_string()) out.scalar = *s;
    else if (t.is_integer()) out.scalar = std::to_string(*t.value<int64_t>());
    else if (t.is_floating_point()) out.scalar = fmt::format("{}", *t.value<double>());
    else if (t.is_boolean()) out.scalar = *t.value<bool>() ? "true" : "false";
    else
      errors.push_back(fmt::format("{}: dates and times are not config values", out.origin.str()));
  }
  return out;
}

Node parse_yaml_file(const std::string& path, std::vector<std::string>& errors) {
  Origin origin = Origin::at(path, 1);
  try {
    return from_yaml(YAML::LoadFile(path), origin, errors);
  } catch (const YAML::BadFile&) {
    errors.push_back(fmt::format("{}: cannot read the file", path));
  } catch (const YAML::Exception& e) {
    errors.push_back(fmt::format("{}:{}: YAML syntax error: {}", path, e.mark.line + 1, e.msg));
  }
  return Node{};
}

Node parse_toml_file(const std::string& path, std::vector<std::string>& errors) {
  Origin origin = Origin::at(path, 1);
  if (!std::filesystem::is_regular_file(path)) {
    errors.push_back(fmt::format("{}: cannot read the file", path));
    return Node{};
  }
  try {
    toml::table table = toml::parse_file(path);
    return from_toml(table, origin, errors);
  } catch (const toml::parse_error& e) {
    errors.push_back(fmt::format("{}:{}: TOML syntax error: {}", path, e.source().begin.line, e.description()));
  }
  return Node{};
}

std::string interpolate_text(const std::string& text, const Origin& origin, std::vector<std::string>& errors) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    size_t close = text.find('}', i + 2);
    if (close == std::string::npos) {
      errors.push_back(fmt::format("{}: unterminated '${{' in \"{}\"", origin.str(), text));
      return text;
    }
    std::string body = text.substr(i + 2, close - i - 2);
    size_t colon = body.find(':');
    std::string name = body.substr(0, colon);
    if (const char* value = std::getenv(name.c_str()); value != nullptr) {
      out += value;
    } else if (colon != std::string::npos) {
      out += body.substr(colon + 1);
    } else {
      errors.push_back(fmt::format("{}: environment variable {} is not set (write ${{{}:default}} to give a default)",
                                   origin.str(), name, name));
    }
    i = close + 1;
  }
  return out;
}

}  // namespace

std::string Origin::str() const {
  if (file.empty()) return label.empty() ? "default" : label;
  std::string out = line > 0 ? fmt::format("{}:{}", file, line) : file;
  return label.empty() ? out : fmt::format("{} ({})", out, label);
}

Node* Node::find(const std::string& key) {
  for (auto& [k, v] : map)
    if (k == key) return &v;
  return nullptr;
}

const Node* Node::find(const std::string& key) const {
  for (const auto& [k, v] : map)
    if (k == key) return &v;
  return nullptr;
}

void Node::set(const std::string& key, Node value) {
  kind = Kind::kMap;
  if (Node* existing = find(key)) *existing = std::move(value);
  else map.emplace_back(key, std::move(value));
}

void Node::erase(const std::string& key) {
  for (auto it = map.begin(); it != map.end(); ++it)
    if (it->first == key) {
      map.erase(it);
      return;
    }
}

Node parse_file(const std::string& path, std::vector<std::string>& errors) {
  std::string ext = extension_of(path);
  if (ext == ".yaml" || ext == ".yml") return parse_yaml_file(path, errors);
  if (ext == ".toml") return parse_toml_file(path, errors);
  errors.push_back(fmt::format("{}: unknown config format '{}' (use .yaml, .yml or .toml)", path, ext));
  return Node{};
}

Node parse_yaml_text(const std::string& text, const Origin& origin, std::vector<std::string>& errors) {
  try {
    Node node = from_yaml(YAML::Load(text), origin, errors);
    node.origin = origin;
    return node;
  } catch (const YAML::Exception& e) {
    errors.push_back(fmt::format("{}: cannot read value '{}': {}", origin.str(), text, e.msg));
  }
  return Node{};
}

void merge_into(Node& base, const Node& over) {
  if (base.kind != Node::Kind::kMap || over.kind != Node::Kind::kMap) {
    base = over;
    return;
  }
  for (const auto& [key, value] : over.map) {
    if (Node* existing = base.find(key)) merge_into(*existing, value);
    else base.map.emplace_back(key, value);
  }
}

void interpolate(Node& node, std::vector<std::string>& errors) {
  switch (node.kind) {
    case Node::Kind::kScalar:
      if (node.scalar.find("${") != std::string::npos) node.scalar = interpolate_text(node.scalar, node.origin, errors);
      break;
    case Node::Kind::kList:
      for (Node& item : node.list) interpolate(item, errors);
      break;
    case Node::Kind::kMap:
      for (auto& [key, value] : node.map) interpolate(value, errors);
      break;
    case Node::Kind::kNull: break;
  }
}

}  // namespace primus::config
