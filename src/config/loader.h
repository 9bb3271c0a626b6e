// Loading an experiment: a YAML or TOML file, its `extends` chain, the model preset, ${ENV}
// interpolation and `--set key=value` overrides, merged with the precedence
//   command line > the experiment file > what it extends > the model preset > schema defaults,
// then mapped onto ExperimentConfig and validated strictly. Every problem (unknown key with a
// suggestion, wrong type, out of range, inconsistent) is collected, each naming file:line and the
// key, and thrown as one primus::usage_error (exit code 2).
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/experiment.h"
#include "config/tree.h"

namespace primus::config {

// Dotted key -> where its value came from; one entry per schema key ("default" when untouched).
using Provenance = std::map<std::string, Origin>;

struct LoadedExperiment {
  ExperimentConfig config;
  Provenance provenance;
  std::vector<std::string> files;  // every file read: the experiment, what it extends, the preset
};

ExperimentConfig load_experiment(const std::string& path, const std::vector<std::string>& overrides = {});
LoadedExperiment load_experiment_with_provenance(const std::string& path,
                                                 const std::vector<std::string>& overrides = {});

// Checks ranges and consistency of a config (for configs built in code; load_experiment already
// does this). Throws primus::usage_error listing every problem.
void validate_experiment(const ExperimentConfig& cfg, const Provenance& provenance = {});
// Appends "origin: key: problem" lines for every problem found, except problems naming a key in
// `skip` (keys whose value could not be read at all); throws nothing.
void collect_problems(const ExperimentConfig& cfg, const Provenance& provenance, std::vector<std::string>& errors,
                      const std::set<std::string>& skip = {});

// world_size / (tensor * pipeline). Throws primus::usage_error when the world size is not a multiple
// of tensor * pipeline or the global batch is not a multiple of micro_batch_size * that size.
int64_t data_parallel_size(const ExperimentConfig& cfg, int world_size);
// Micro-batches per optimizer step on each data-parallel rank: global / (micro * dp).
int64_t gradient_accumulation_steps(const ExperimentConfig& cfg, int world_size);

// Directories searched for configs/models/<preset>.yaml, in order: $PRIMUS_PRESETS_DIR (':'-separated),
// the nearest configs/models/ found walking up from the experiment file, the source tree's
// configs/models/ compiled into the binary. Only existing directories are returned.
std::vector<std::string> presets_search_path(const std::string& experiment_path);
// Names of the presets found on that path, sorted.
std::vector<std::string> list_presets(const std::string& experiment_path);

// The resolved config as YAML that loads back to the same values. With provenance, each line ends
// in a comment: `# from file:line`, `# preset NAME (file:line)`, `# --set` or `# default`.
std::string render_yaml(const ExperimentConfig& cfg, const Provenance* provenance = nullptr);

}  // namespace primus::config
