// The untyped config tree that YAML and TOML files both parse into: maps, lists and scalars kept as
// text (typed later by the schema), each node remembering where it came from (file:line, preset,
// --set). Also deep merge (maps merge, lists and scalars replace) and ${VAR} interpolation.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace primus::config {

// Where a value came from; printed as "file:line", "file:line (preset NAME)", "--set" or "default".
struct Origin {
  std::string file;   // path of the file, lexically normalized; empty for --set and defaults
  int line = 0;       // 1-based
  std::string label;  // "preset gpt2-124m", "--set", "default" or empty
  std::string str() const;
  static Origin at(std::string file, int line) { Origin o; o.file = std::move(file); o.line = line; return o; }
  static Origin labeled(std::string label) { Origin o; o.label = std::move(label); return o; }
};

struct Node {
  enum class Kind { kNull, kScalar, kList, kMap };
  Kind kind = Kind::kNull;
  std::string scalar;                               // text of a scalar
  std::vector<Node> list;                           // items of a list
  std::vector<std::pair<std::string, Node>> map;    // entries of a map, in file order
  Origin origin;  // where this value was written (for a map entry: the line of its key)

  static Node empty_map(Origin origin = {}) { Node n; n.kind = Kind::kMap; n.origin = std::move(origin); return n; }
  Node* find(const std::string& key);
  const Node* find(const std::string& key) const;
  // Sets or replaces an entry, keeping its position when it exists.
  void set(const std::string& key, Node value);
  void erase(const std::string& key);
};

// Parse errors are collected into `errors` ("file:line: message"); the returned tree holds what
// could be read. Format by extension: .yaml/.yml or .toml.
Node parse_file(const std::string& path, std::vector<std::string>& errors);
Node parse_yaml_text(const std::string& text, const Origin& origin, std::vector<std::string>& errors);

// Deep merge: `over` wins; maps merge key by key, everything else (lists included) is replaced.
void merge_into(Node& base, const Node& over);

// Replaces ${VAR} and ${VAR:default} in every scalar from the environment; `$${` is a literal `${`.
// A missing variable without a default is an error naming it and the file:line.
void interpolate(Node& node, std::vector<std::string>& errors);

}  // namespace primus::config
