// Validation of a typed config: every field against its schema range, then the cross-field rules
// (heads divide channels, batch divisibility, parallel layout, ...). Each problem names where the
// offending value came from and its key.
#include <fmt/format.h>

#include <cmath>
#include <sstream>

#include "config/loader.h"
#include "config/schema.h"
#include "core/error.h"

namespace primus::config {
namespace {

class Problems {
 public:
  Problems(const Provenance& provenance, std::vector<std::string>& errors, const std::set<std::string>& skip)
      : provenance_(provenance), errors_(errors), skip_(skip) {}

  std::string where(const std::string& key) const {
    auto it = provenance_.find(key);
    return it == provenance_.end() ? "default" : it->second.str();
  }
  template <typename... Args>
  void add(const std::string& key, fmt::format_string<Args...> f, Args&&... args) {
    if (skip_.count(key)) return;
    errors_.push_back(fmt::format("{}: {}: {}", where(key), key, fmt::format(f, std::forward<Args>(args)...)));
  }

 private:
  const Provenance& provenance_;
  std::vector<std::string>& errors_;
  const std::set<std::string>& skip_;
};

void check_range(const Field& field, const ExperimentConfig& cfg, Problems& problems) {
  const Range& r = field.range;
  void* p = field.access(const_cast<ExperimentConfig&>(cfg));
  if (field.type == FieldType::kString && !r.choices.empty()) {
    const std::string& value = *static_cast<std::string*>(p);
    std::string_view choices = r.choices;
    std::string best;
    size_t best_distance = 3;
    for (size_t start = 0; start <= choices.size();) {
      size_t bar = std::min(choices.find('|', start), choices.size());
      std::string_view choice = choices.substr(start, bar - start);
      if (choice == value) return;
      if (size_t d = edit_distance(value, choice); d < best_distance) best_distance = d, best = choice;
      start = bar + 1;
    }
    problems.add(std::string(field.key), "'{}' is not one of {}{}", value, r.choices,
                 best.empty() ? "" : fmt::format("; did you mean {}?", best));
    return;
  }
  double value = 0.0;
  if (field.type == FieldType::kInt) value = static_cast<double>(*static_cast<int64_t*>(p));
  else if (field.type == FieldType::kFloat) value = *static_cast<double*>(p);
  else return;
  bool ok = std::isfinite(value);
  if (r.min) ok = ok && (r.min_exclusive ? value > *r.min : value >= *r.min);
  if (r.max) ok = ok && (r.max_exclusive ? value < *r.max : value <= *r.max);
  if (!ok) problems.add(std::string(field.key), "{} is out of range: must be {}", format_value(field, cfg), describe_range(r));
}

void check_model(const ModelConfig& m, const TrainConfig& t, Problems& problems) {
  if (m.num_attention_heads > 0 && m.hidden_size % m.num_attention_heads != 0)
    problems.add("model.hidden_size", "{} is not divisible by model.num_attention_heads = {} ({})", m.hidden_size,
                 m.num_attention_heads, problems.where("model.num_attention_heads"));
  if (m.num_kv_heads > 0 && m.num_attention_heads % m.num_kv_heads != 0)
    problems.add("model.num_kv_heads", "model.num_attention_heads = {} is not a multiple of {}", m.num_attention_heads,
                 m.num_kv_heads);
  if (m.arch == "gpt2" && m.num_kv_heads != 0 && m.num_kv_heads != m.num_attention_heads)
    problems.add("model.num_kv_heads", "gpt2 has no grouped-query attention: leave it 0 or equal to num_attention_heads");
  if (m.arch == "llama") {
    if (m.ffn_hidden_size == 0)
      problems.add("model.ffn_hidden_size", "llama needs an explicit MLP size (e.g. 8192 for hidden_size 2048)");
    if (m.num_attention_heads > 0 && m.hidden_size % m.num_attention_heads == 0 &&
        (m.hidden_size / m.num_attention_heads) % 2 != 0)
      problems.add("model.hidden_size", "head size {} / {} = {} must be even for RoPE", m.hidden_size,
                   m.num_attention_heads, m.hidden_size / m.num_attention_heads);
  }
  if (m.rope_scaling.factor > 0 && m.rope_scaling.high_freq_factor <= m.rope_scaling.low_freq_factor)
    problems.add("model.rope_scaling.high_freq_factor", "{} must be greater than low_freq_factor = {}",
                 m.rope_scaling.high_freq_factor, m.rope_scaling.low_freq_factor);
  if (t.seq_len > m.max_position_embeddings)
    problems.add("train.seq_len", "{} is longer than model.max_position_embeddings = {} ({})", t.seq_len,
                 m.max_position_embeddings, problems.where("model.max_position_embeddings"));
}

void check_parallel(const ExperimentConfig& c, Problems& problems) {
  const ParallelConfig& p = c.parallel;
  const ModelConfig& m = c.model;
  if (c.train.micro_batch_size > 0 && c.train.global_batch_size % c.train.micro_batch_size != 0)
    problems.add("train.global_batch_size", "{} is not a multiple of train.micro_batch_size = {}",
                 c.train.global_batch_size, c.train.micro_batch_size);
  if (p.sequence_parallel && p.tensor <= 1)
    problems.add("parallel.sequence_parallel", "needs parallel.tensor > 1 (it is {})", p.tensor);
  if (p.tensor > 1 && m.num_attention_heads % p.tensor != 0)
    problems.add("parallel.tensor", "{} does not divide model.num_attention_heads = {}", p.tensor, m.num_attention_heads);
  int64_t kv = m.num_kv_heads > 0 ? m.num_kv_heads : m.num_attention_heads;
  if (p.tensor > 1 && kv % p.tensor != 0 && p.tensor % kv != 0)
    problems.add("parallel.tensor", "{} and model.num_kv_heads = {}: one must divide the other", p.tensor, kv);
  if (p.virtual_pipeline > 1 && p.pipeline <= 1)
    problems.add("parallel.virtual_pipeline", "{} needs parallel.pipeline > 1", p.virtual_pipeline);
  int64_t chunks = std::max<int64_t>(1, p.pipeline) * std::max<int64_t>(1, p.virtual_pipeline);
  if (chunks > 1 && m.num_layers % chunks != 0)
    problems.add("parallel.pipeline", "model.num_layers = {} is not divisible by pipeline * virtual_pipeline = {}",
                 m.num_layers, chunks);
}

bool valid_split(const std::string& split) {
  std::stringstream in(split);
  std::string part;
  int count = 0;
  double total = 0.0;
  while (std::getline(in, part, ',')) {
    char* end = nullptr;
    double v = std::strtod(part.c_str(), &end);
    if (part.empty() || *end != '\0' || v < 0) return false;
    total += v;
    ++count;
  }
  return count == 3 && total > 0;
}

void check_data(const ExperimentConfig& c, Problems& problems) {
  const DataConfig& d = c.data;
  if (!d.mock && d.train.empty())
    problems.add("data.train", "no training data: give a path, a blend [w1, p1, w2, p2], or data.mock: true");
  for (const char* key : {"data.train", "data.valid"}) {
    const auto& sources = std::string(key) == "data.train" ? d.train : d.valid;
    for (const DataSource& s : sources) {
      if (!(s.weight > 0) || !std::isfinite(s.weight))
        problems.add(key, "blend weight {} of '{}' must be > 0", s.weight, s.path);
      if (s.path.empty()) problems.add(key, "empty path");
    }
  }
  if (!valid_split(d.split))
    problems.add("data.split", "'{}' is not three comma-separated non-negative proportions, e.g. 98,1,1", d.split);
  if (c.exp_name.empty() || c.exp_name == "." || c.exp_name == ".." || c.exp_name.find('/') != std::string::npos)
    problems.add("exp_name", "'{}' must be a plain folder name (no '/', not '.' or '..')", c.exp_name);
  if (c.workspace.empty()) problems.add("workspace", "must not be empty");
}

}  // namespace

void collect_problems(const ExperimentConfig& cfg, const Provenance& provenance, std::vector<std::string>& errors,
                      const std::set<std::string>& skip) {
  Problems problems(provenance, errors, skip);
  for (const Field& field : schema_fields()) check_range(field, cfg, problems);
  check_model(cfg.model, cfg.train, problems);
  check_parallel(cfg, problems);
  check_data(cfg, problems);
}

void validate_experiment(const ExperimentConfig& cfg, const Provenance& provenance) {
  std::vector<std::string> errors;
  collect_problems(cfg, provenance, errors, {});
  if (errors.empty()) return;
  std::string message = fmt::format("invalid configuration ({} problem{}):", errors.size(), errors.size() == 1 ? "" : "s");
  for (const std::string& e : errors) message += "\n  " + e;
  throw usage_error(message, "every key is listed in docs/configuration.md");
}

int64_t data_parallel_size(const ExperimentConfig& cfg, int world_size) {
  const int64_t model_parallel = cfg.parallel.tensor * cfg.parallel.pipeline;
  if (world_size < 1 || model_parallel < 1 || world_size % model_parallel != 0)
    throw usage_error(fmt::format("world size {} is not a multiple of parallel.tensor * parallel.pipeline = {} * {}",
                                  world_size, cfg.parallel.tensor, cfg.parallel.pipeline),
                      "launch a multiple of tensor * pipeline processes, or change the parallel layout");
  const int64_t dp = world_size / model_parallel;
  const int64_t per_step = cfg.train.micro_batch_size * dp;
  if (per_step < 1 || cfg.train.global_batch_size % per_step != 0)
    throw usage_error(fmt::format("train.global_batch_size = {} is not a multiple of train.micro_batch_size * "
                                  "data-parallel size = {} * {} = {}",
                                  cfg.train.global_batch_size, cfg.train.micro_batch_size, dp, per_step),
                      fmt::format("with {} processes, use a global batch of {} * k", world_size, per_step));
  return dp;
}

int64_t gradient_accumulation_steps(const ExperimentConfig& cfg, int world_size) {
  const int64_t dp = data_parallel_size(cfg, world_size);
  return cfg.train.global_batch_size / (cfg.train.micro_batch_size * dp);
}

}  // namespace primus::config
