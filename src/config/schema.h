// The schema table: one entry per config field (dotted key, type, accessor into ExperimentConfig,
// one-line doc, allowed range). Loading, `--set` typing, unknown-key suggestions, `config show` and
// docs/configuration.md are all driven by this one table; defaults are read from a
// default-constructed ExperimentConfig, so they are written only once (in experiment.h).
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/experiment.h"

namespace primus::config {

enum class FieldType { kInt, kUInt, kFloat, kBool, kString, kDataSources };

// Allowed values: numeric bounds and/or a `|`-separated list of choices.
struct Range {
  std::optional<double> min;       // lower bound
  std::optional<double> max;       // upper bound
  bool min_exclusive = false;      // bound is `> min` instead of `>= min`
  bool max_exclusive = false;      // bound is `< max` instead of `<= max`
  std::string_view choices;        // e.g. "gpt2|llama"; empty = any string
};

struct Field {
  std::string_view key;                     // dotted key, e.g. "model.num_layers"
  FieldType type;
  void* (*access)(ExperimentConfig&);       // pointer to the field inside a config
  std::string_view doc;                     // one line of documentation
  Range range;
};

// Every field, in the order `config show` prints them.
std::span<const Field> schema_fields();
// The field with this dotted key, or nullptr.
const Field* find_field(std::string_view key);
// True when `key` names a section ("model", "model.rope_scaling", ...), not a field.
bool is_section(std::string_view key);
// The closest known key or section for a misspelt one ("" if nothing is close).
std::string suggest_key(std::string_view key);
size_t edit_distance(std::string_view a, std::string_view b);

std::string_view type_name(FieldType type);
// The value of a field of `cfg` as YAML text (strings quoted where YAML needs it).
std::string format_value(const Field& field, const ExperimentConfig& cfg);
// The range as a human phrase ("> 0", "one of gpt2|llama", "[0, 1)"), "" when unconstrained.
std::string describe_range(const Range& range);
// The schema as a Markdown table (key, type, default, range, doc), as in docs/configuration.md.
std::string render_schema_markdown();

}  // namespace primus::config
