// The schema table (see schema.h). Adding a field to experiment.h means adding one entry here; a
// test checks that docs/configuration.md matches render_schema_markdown().
#include "config/schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace primus::config {
namespace {

using C = ExperimentConfig;
constexpr Range bounds(std::optional<double> min, std::optional<double> max, bool min_exclusive = false,
                       bool max_exclusive = false) {
  Range r;
  r.min = min;
  r.max = max;
  r.min_exclusive = min_exclusive;
  r.max_exclusive = max_exclusive;
  return r;
}
constexpr Range one_of(std::string_view choices) {
  Range r;
  r.choices = choices;
  return r;
}
constexpr Range kAny{};
constexpr Range kPositive = bounds(0.0, std::nullopt, true);
constexpr Range kAtLeast1 = bounds(1.0, std::nullopt);
constexpr Range kNonNegative = bounds(0.0, std::nullopt);
constexpr Range kUnit = bounds(0.0, 1.0);
constexpr Range kUnitOpen = bounds(0.0, 1.0, false, true);

constexpr FieldType kI = FieldType::kInt;
constexpr FieldType kU = FieldType::kUInt;
constexpr FieldType kF = FieldType::kFloat;
constexpr FieldType kB = FieldType::kBool;
constexpr FieldType kS = FieldType::kString;
constexpr FieldType kD = FieldType::kDataSources;

// clang-format off
const std::vector<Field> kFields = {
  {"workspace", kS, [](C& c) -> void* { return &c.workspace; }, "parent folder of the run directories: a run lives in workspace/exp_name/", kAny},
  {"exp_name", kS, [](C& c) -> void* { return &c.exp_name; }, "experiment name (a folder name: no '/', not '..')", kAny},

  {"model.preset", kS, [](C& c) -> void* { return &c.model.preset; }, "name of a file in configs/models/ whose fields are the defaults", kAny},
  {"model.arch", kS, [](C& c) -> void* { return &c.model.arch; }, "model family", one_of("gpt2|llama")},
  {"model.num_layers", kI, [](C& c) -> void* { return &c.model.num_layers; }, "transformer blocks (L)", kAtLeast1},
  {"model.hidden_size", kI, [](C& c) -> void* { return &c.model.hidden_size; }, "model width (C)", kAtLeast1},
  {"model.num_attention_heads", kI, [](C& c) -> void* { return &c.model.num_attention_heads; }, "query heads (NH); must divide hidden_size", kAtLeast1},
  {"model.num_kv_heads", kI, [](C& c) -> void* { return &c.model.num_kv_heads; }, "key/value heads for grouped-query attention (NKV); 0 = NH", kNonNegative},
  {"model.ffn_hidden_size", kI, [](C& c) -> void* { return &c.model.ffn_hidden_size; }, "MLP hidden size (FF); 0 = 4*C for gpt2 (required for llama)", kNonNegative},
  {"model.vocab_size", kI, [](C& c) -> void* { return &c.model.vocab_size; }, "tokenizer vocabulary (V)", kAtLeast1},
  {"model.make_vocab_size_divisible_by", kI, [](C& c) -> void* { return &c.model.make_vocab_size_divisible_by; }, "pad the embedding rows to a multiple of this (Vp)", kAtLeast1},
  {"model.max_position_embeddings", kI, [](C& c) -> void* { return &c.model.max_position_embeddings; }, "longest sequence (learned positions / RoPE tables)", kAtLeast1},
  {"model.norm_eps", kF, [](C& c) -> void* { return &c.model.norm_eps; }, "epsilon of layernorm / rmsnorm", kPositive},
  {"model.rope_theta", kF, [](C& c) -> void* { return &c.model.rope_theta; }, "RoPE base (llama)", kPositive},
  {"model.rope_scaling.factor", kF, [](C& c) -> void* { return &c.model.rope_scaling.factor; }, "Llama 3 RoPE frequency scaling factor; 0 = no scaling", kNonNegative},
  {"model.rope_scaling.low_freq_factor", kF, [](C& c) -> void* { return &c.model.rope_scaling.low_freq_factor; }, "Llama 3 scaling: low-frequency factor", kPositive},
  {"model.rope_scaling.high_freq_factor", kF, [](C& c) -> void* { return &c.model.rope_scaling.high_freq_factor; }, "Llama 3 scaling: high-frequency factor (> low_freq_factor)", kPositive},
  {"model.rope_scaling.original_max_position_embeddings", kI, [](C& c) -> void* { return &c.model.rope_scaling.original_max_position_embeddings; }, "Llama 3 scaling: context the base model saw", kAtLeast1},
  {"model.tie_embeddings", kB, [](C& c) -> void* { return &c.model.tie_embeddings; }, "share the token embedding with the output head", kAny},
  {"model.qkv_bias", kB, [](C& c) -> void* { return &c.model.qkv_bias; }, "bias on the QKV projection (gpt2 always; Qwen2.5 style for llama)", kAny},
  {"model.init_std", kF, [](C& c) -> void* { return &c.model.init_std; }, "stddev of the normal initialization", kPositive},

  {"data.train", kD, [](C& c) -> void* { return &c.data.train; }, "training data: a path prefix, or a blend [w1, path1, w2, path2, ...]", kAny},
  {"data.valid", kD, [](C& c) -> void* { return &c.data.valid; }, "validation data (same forms); empty = carve from train by split", kAny},
  {"data.split", kS, [](C& c) -> void* { return &c.data.split; }, "train,valid,test proportions when valid is empty", kAny},
  {"data.tokenizer", kS, [](C& c) -> void* { return &c.data.tokenizer; }, "tokenizer.json path (generation and preparation)", kAny},
  {"data.mock", kB, [](C& c) -> void* { return &c.data.mock; }, "random tokens instead of files (benchmarks)", kAny},
  {"data.ignore_index", kI, [](C& c) -> void* { return &c.data.ignore_index; }, "target id excluded from the loss", kAny},

  {"train.micro_batch_size", kI, [](C& c) -> void* { return &c.train.micro_batch_size; }, "sequences per micro-batch per data-parallel rank (B)", kAtLeast1},
  {"train.global_batch_size", kI, [](C& c) -> void* { return &c.train.global_batch_size; }, "sequences per optimizer step across all ranks; a multiple of micro_batch_size * DP", kAtLeast1},
  {"train.seq_len", kI, [](C& c) -> void* { return &c.train.seq_len; }, "tokens per sequence (T); <= model.max_position_embeddings", kAtLeast1},
  {"train.steps", kI, [](C& c) -> void* { return &c.train.steps; }, "optimizer steps", kAtLeast1},
  {"train.seed", kU, [](C& c) -> void* { return &c.train.seed; }, "initialization, data order and sampling seed", kAny},
  {"train.max_nonfinite_steps", kI, [](C& c) -> void* { return &c.train.max_nonfinite_steps; }, "stop after this many NaN/inf steps in a row", kNonNegative},

  {"optim.name", kS, [](C& c) -> void* { return &c.optim.name; }, "optimizer", one_of("adamw")},
  {"optim.lr", kF, [](C& c) -> void* { return &c.optim.lr; }, "peak learning rate", kNonNegative},
  {"optim.weight_decay", kF, [](C& c) -> void* { return &c.optim.weight_decay; }, "decoupled weight decay", kNonNegative},
  {"optim.beta1", kF, [](C& c) -> void* { return &c.optim.beta1; }, "AdamW beta1", kUnitOpen},
  {"optim.beta2", kF, [](C& c) -> void* { return &c.optim.beta2; }, "AdamW beta2", kUnitOpen},
  {"optim.eps", kF, [](C& c) -> void* { return &c.optim.eps; }, "AdamW epsilon", kPositive},
  {"optim.grad_clip_norm", kF, [](C& c) -> void* { return &c.optim.grad_clip_norm; }, "global gradient norm clip; 0 = off", kNonNegative},
  {"optim.decay_norms_and_biases", kB, [](C& c) -> void* { return &c.optim.decay_norms_and_biases; }, "apply weight decay to norm weights and biases", kAny},
  {"optim.decay_embeddings", kB, [](C& c) -> void* { return &c.optim.decay_embeddings; }, "apply weight decay to embeddings", kAny},

  {"schedule.kind", kS, [](C& c) -> void* { return &c.schedule.kind; }, "learning-rate schedule", one_of("constant|linear|cosine|wsd")},
  {"schedule.lr_warmup_steps", kI, [](C& c) -> void* { return &c.schedule.lr_warmup_steps; }, "linear warmup from 0 to lr", kNonNegative},
  {"schedule.lr_min_ratio", kF, [](C& c) -> void* { return &c.schedule.lr_min_ratio; }, "final lr as a fraction of lr (linear, cosine, wsd)", kUnit},
  {"schedule.lr_decay_steps", kI, [](C& c) -> void* { return &c.schedule.lr_decay_steps; }, "steps over which to decay; 0 = train.steps", kNonNegative},
  {"schedule.wsd_decay_ratio", kF, [](C& c) -> void* { return &c.schedule.wsd_decay_ratio; }, "wsd: fraction of the steps spent in the final decay", kUnit},

  {"parallel.tensor", kI, [](C& c) -> void* { return &c.parallel.tensor; }, "tensor-parallel size; divides num_attention_heads", kAtLeast1},
  {"parallel.pipeline", kI, [](C& c) -> void* { return &c.parallel.pipeline; }, "pipeline-parallel size", kAtLeast1},
  {"parallel.virtual_pipeline", kI, [](C& c) -> void* { return &c.parallel.virtual_pipeline; }, "model chunks per pipeline rank (interleaved 1F1B)", kAtLeast1},
  {"parallel.sequence_parallel", kB, [](C& c) -> void* { return &c.parallel.sequence_parallel; }, "shard norm/dropout regions along the sequence (needs tensor > 1)", kAny},
  {"parallel.zero", kI, [](C& c) -> void* { return &c.parallel.zero; }, "0 = plain data parallel, 1 = shard optimizer state (ZeRO-1)", kUnit},

  {"precision.compute", kS, [](C& c) -> void* { return &c.precision.compute; }, "compute dtype of matmuls and activations", one_of("fp32|bf16")},
  {"precision.master_weights", kS, [](C& c) -> void* { return &c.precision.master_weights; }, "dtype of the master weights and optimizer state", one_of("fp32")},

  {"backend.device", kS, [](C& c) -> void* { return &c.backend.device; }, "where the model runs", one_of("cpu|cuda")},
  {"backend.threads", kI, [](C& c) -> void* { return &c.backend.threads; }, "CPU threads; 0 = all cores", kNonNegative},
  {"backend.recompute", kS, [](C& c) -> void* { return &c.backend.recompute; }, "activation recompute", one_of("none|selective|full")},
  {"backend.cuda_graphs", kB, [](C& c) -> void* { return &c.backend.cuda_graphs; }, "capture the training step as a CUDA graph", kAny},

  {"checkpoint.every_steps", kI, [](C& c) -> void* { return &c.checkpoint.every_steps; }, "save every N steps; 0 = only at the end", kNonNegative},
  {"checkpoint.keep_last", kI, [](C& c) -> void* { return &c.checkpoint.keep_last; }, "checkpoints kept; older ones are deleted", kAtLeast1},
  {"checkpoint.save_at_end", kB, [](C& c) -> void* { return &c.checkpoint.save_at_end; }, "save after the last step", kAny},
  {"checkpoint.init_from", kS, [](C& c) -> void* { return &c.checkpoint.init_from; }, "safetensors folder to initialize weights from", kAny},

  {"logging.every_steps", kI, [](C& c) -> void* { return &c.logging.every_steps; }, "log line every N steps", kAtLeast1},
  {"logging.eval_every_steps", kI, [](C& c) -> void* { return &c.logging.eval_every_steps; }, "validation every N steps; 0 = never", kNonNegative},
  {"logging.eval_steps", kI, [](C& c) -> void* { return &c.logging.eval_steps; }, "micro-batches per validation", kAtLeast1},
  {"logging.level", kS, [](C& c) -> void* { return &c.logging.level; }, "log level", one_of("debug|info|warn")},
  {"logging.progress", kS, [](C& c) -> void* { return &c.logging.progress; }, "progress bar (auto: when stderr is a terminal)", one_of("auto|on|off")},
};
// clang-format on

std::vector<std::string> all_sections() {
  std::vector<std::string> out;
  for (const Field& f : kFields) {
    std::string_view key = f.key;
    for (size_t dot = key.find('.'); dot != std::string_view::npos; dot = key.find('.', dot + 1)) {
      std::string section(key.substr(0, dot));
      if (std::find(out.begin(), out.end(), section) == out.end()) out.push_back(section);
    }
  }
  return out;
}

bool yaml_plain_safe(const std::string& s) {
  if (s.empty()) return false;
  for (char ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-' && ch != '.' && ch != '/')
      return false;
  // Words YAML would read as something other than a string.
  static const char* kReserved[] = {"true", "false", "yes", "no", "on", "off", "null", "~"};
  for (const char* r : kReserved)
    if (s == r) return false;
  return !(std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '.');
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

std::string format_double(double v) {
  std::string s = fmt::format("{}", v);
  // Keep a float looking like a float so a reader can tell it from an integer.
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

// A literal "${" is written as "$${" so that loading the text back does not interpolate it.
std::string format_string(const std::string& s) {
  if (yaml_plain_safe(s)) return s;
  std::string escaped;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "${") == 0) escaped += '$';
    escaped += s[i];
  }
  return quote(escaped);
}

}  // namespace

std::span<const Field> schema_fields() { return kFields; }

const Field* find_field(std::string_view key) {
  for (const Field& f : kFields)
    if (f.key == key) return &f;
  return nullptr;
}

bool is_section(std::string_view key) {
  static const std::vector<std::string> sections = all_sections();
  return std::find(sections.begin(), sections.end(), key) != sections.end();
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string suggest_key(std::string_view key) {
  std::vector<std::string> candidates = all_sections();
  for (const Field& f : kFields) candidates.emplace_back(f.key);
  // The same leaf name in another section ("train.lr" -> "optim.lr") is the likeliest slip.
  std::string_view leaf = key.substr(key.rfind('.') == std::string_view::npos ? 0 : key.rfind('.') + 1);
  std::string best;
  size_t best_distance = std::max<size_t>(2, key.size() / 3) + 1;
  for (const std::string& c : candidates) {
    size_t d = edit_distance(key, c);
    std::string_view c_leaf = std::string_view(c).substr(c.rfind('.') == std::string::npos ? 0 : c.rfind('.') + 1);
    if (c_leaf == leaf && leaf.size() >= 2) d = std::min<size_t>(d, 1);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

std::string_view type_name(FieldType type) {
  switch (type) {
    case FieldType::kInt: return "integer";
    case FieldType::kUInt: return "unsigned integer";
    case FieldType::kFloat: return "number";
    case FieldType::kBool: return "boolean (true or false)";
    case FieldType::kString: return "string";
    case FieldType::kDataSources: return "path or blend";
  }
  return "?";
}

std::string format_value(const Field& field, const ExperimentConfig& cfg) {
  void* p = field.access(const_cast<ExperimentConfig&>(cfg));
  switch (field.type) {
    case FieldType::kInt: return std::to_string(*static_cast<int64_t*>(p));
    case FieldType::kUInt: return std::to_string(*static_cast<uint64_t*>(p));
    case FieldType::kFloat: return format_double(*static_cast<double*>(p));
    case FieldType::kBool: return *static_cast<bool*>(p) ? "true" : "false";
    case FieldType::kString: return format_string(*static_cast<std::string*>(p));
    case FieldType::kDataSources: {
      const auto& sources = *static_cast<std::vector<DataSource>*>(p);
      if (sources.size() == 1 && sources[0].weight == 1.0) return format_string(sources[0].path);
      std::string out = "[";
      for (size_t i = 0; i < sources.size(); ++i)
        out += fmt::format("{}{}, {}", i ? ", " : "", format_double(sources[i].weight),
                           format_string(sources[i].path));
      return out + "]";
    }
  }
  return "";
}

std::string describe_range(const Range& r) {
  if (!r.choices.empty()) return fmt::format("one of {}", r.choices);
  if (r.min && r.max)
    return fmt::format("{}{}, {}{}", r.min_exclusive ? "(" : "[", *r.min, *r.max, r.max_exclusive ? ")" : "]");
  if (r.min) return fmt::format("{} {}", r.min_exclusive ? ">" : ">=", *r.min);
  if (r.max) return fmt::format("{} {}", r.max_exclusive ? "<" : "<=", *r.max);
  return "";
}

std::string render_schema_markdown() {
  const ExperimentConfig defaults;
  std::string out = "| key | type | default | allowed | description |\n|---|---|---|---|---|\n";
  for (const Field& f : kFields) {
    std::string def = format_value(f, defaults);
    if (def == "\"\"" || def == "[]") def = "(empty)";
    std::string range = describe_range(f.range);
    for (char& ch : range)
      if (ch == '|') ch = '/';
    out += fmt::format("| `{}` | {} | `{}` | {} | {} |\n", f.key, type_name(f.type), def, range, f.doc);
  }
  return out;
}

}  // namespace primus::config
