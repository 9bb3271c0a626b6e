// `primus config show|validate|presets|schema`: print the resolved config (optionally with where
// each value came from), check a config without running it, list model presets, print the schema.
#include <cstdio>
#include <memory>

#include "apps/primus/commands.h"
#include "config/loader.h"
#include "config/schema.h"
#include "core/error.h"

namespace primus::app {
namespace {

struct ConfigOptions {
  std::string file;
  std::vector<std::string> overrides;
  bool provenance = false;
};

void add_config_options(CLI::App* cmd, ConfigOptions& opts) {
  cmd->add_option("-c,--config", opts.file, "experiment file (.yaml, .yml or .toml)")->required();
  cmd->add_option("--set", opts.overrides, "override one key, typed by the schema: --set optim.lr=1e-3 (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

}  // namespace

void add_config_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("config", "Show, validate and document experiment configs");
  cmd->require_subcommand(1);
  auto opts = std::make_shared<ConfigOptions>();

  auto* show = cmd->add_subcommand("show", "Print the fully resolved config as YAML");
  add_config_options(show, *opts);
  show->add_flag("--provenance", opts->provenance, "end each line with the file:line, preset or --set it came from");
  show->callback([opts] {
    config::LoadedExperiment loaded = config::load_experiment_with_provenance(opts->file, opts->overrides);
    std::string header = "# resolved from " + opts->file;
    for (const std::string& o : opts->overrides) header += " --set " + o;
    std::printf("%s\n%s", header.c_str(),
                config::render_yaml(loaded.config, opts->provenance ? &loaded.provenance : nullptr).c_str());
  });

  auto* validate = cmd->add_subcommand("validate", "Check a config (types, ranges, consistency) without running it");
  add_config_options(validate, *opts);
  validate->callback([opts] {
    config::load_experiment(opts->file, opts->overrides);
    std::printf("ok: %s\n", opts->file.c_str());
  });

  auto* presets = cmd->add_subcommand("presets", "List the model presets and where they are searched");
  presets->add_option("-c,--config", opts->file, "search as for this experiment file (default: the current folder)");
  presets->callback([opts] {
    const std::string anchor = opts->file.empty() ? "./experiment.yaml" : opts->file;
    for (const std::string& dir : config::presets_search_path(anchor)) std::printf("# searched: %s\n", dir.c_str());
    for (const std::string& name : config::list_presets(anchor)) std::printf("%s\n", name.c_str());
  });

  auto* schema = cmd->add_subcommand("schema", "Print every config key with its type, default, range and doc (Markdown)");
  schema->callback([] { std::printf("%s", config::render_schema_markdown().c_str()); });
}

}  // namespace primus::app
