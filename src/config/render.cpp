// render_yaml: the resolved config as YAML, in schema order, optionally with a provenance comment
// per line. The preset name is written as a comment: its fields are already expanded, so the file
// loads back to the same values without needing the presets directory.
#include <fmt/format.h>

#include "config/loader.h"
#include "config/schema.h"

namespace primus::config {
namespace {

std::vector<std::string_view> split_key(std::string_view key) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t dot = key.find('.'); dot != std::string_view::npos; dot = key.find('.', start)) {
    parts.push_back(key.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(key.substr(start));
  return parts;
}

std::string comment_for(const Origin& origin) {
  if (origin.label.rfind("preset ", 0) == 0) return fmt::format("# {} ({}:{})", origin.label, origin.file, origin.line);
  if (!origin.file.empty()) return fmt::format("# from {}", origin.str());
  return "# " + (origin.label.empty() ? std::string("default") : origin.label);
}

}  // namespace

std::string render_yaml(const ExperimentConfig& cfg, const Provenance* provenance) {
  constexpr size_t kCommentColumn = 48;
  std::string out;
  std::vector<std::string_view> open;  // the sections of the previous line
  for (const Field& field : schema_fields()) {
    std::vector<std::string_view> parts = split_key(field.key);
    const size_t depth = parts.size() - 1;
    size_t common = 0;
    while (common < open.size() && common < depth && open[common] == parts[common]) ++common;
    for (size_t i = common; i < depth; ++i) out += fmt::format("{:{}}{}:\n", "", 2 * i, parts[i]);
    open.assign(parts.begin(), parts.end() - 1);

    std::string line = fmt::format("{:{}}", "", 2 * depth);
    std::string comment;
    if (provenance != nullptr) {
      auto it = provenance->find(std::string(field.key));
      comment = comment_for(it == provenance->end() ? Origin::labeled("default") : it->second);
    }
    if (field.key == "model.preset") {
      if (cfg.model.preset.empty()) continue;
      line += fmt::format("# preset: {} (expanded below)", cfg.model.preset);
    } else {
      line += fmt::format("{}: {}", parts.back(), format_value(field, cfg));
    }
    if (!comment.empty()) line += fmt::format("{:{}}  {}", "", line.size() < kCommentColumn ? kCommentColumn - line.size() : 0, comment);
    out += line + "\n";
  }
  return out;
}

}  // namespace primus::config
