// `primus generate --checkpoint DIR --prompt TEXT [--max-new-tokens N --temperature T --top-k K
// --top-p P --seed S --tokenizer PATH --no-cache]`: loads a checkpoint folder (ours or one written
// by transformers: config.json + model.safetensors), encodes the prompt, samples and prints.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/primus/commands.h"
#include "core/error.h"
#include "data/tokenizer.h"
#include "runtime/backends.h"
#include "train/generate.h"

namespace primus::app {

namespace {
struct GenerateOptions {
  train::GenerateRequest request;
  std::string device = "cpu";
  int threads = 0;
};
}  // namespace

void add_generate_command(CLI::App& app) {
  auto opts = std::make_shared<GenerateOptions>();
  auto& r = opts->request;
  auto* cmd = app.add_subcommand("generate", "Generate text from a checkpoint");
  cmd->add_option("--checkpoint", r.checkpoint, "checkpoint folder (config.json + model.safetensors)")->required();
  cmd->add_option("--prompt", r.prompt, "text to continue")->required();
  cmd->add_option("--max-new-tokens", r.max_new_tokens, "tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", r.sampling.temperature, "softmax temperature; 0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", r.sampling.top_k, "sample among the k most likely tokens; 0 = all")->capture_default_str();
  cmd->add_option("--top-p", r.sampling.top_p, "nucleus sampling mass; 1 = off")->capture_default_str();
  cmd->add_option("--seed", r.seed, "sampling seed")->capture_default_str();
  cmd->add_option("--tokenizer", r.tokenizer, "tokenizer.json (default: the one in the checkpoint folder)");
  cmd->add_flag("--no-cache", r.no_cache, "recompute the whole sequence for every token (no KV cache)");
  cmd->add_option("--device", opts->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--threads", opts->threads, "CPU threads; 0 = all cores")->capture_default_str();
  cmd->callback([opts] {
    auto backend = runtime::make_backend(opts->device, opts->threads);
    const std::string text = train::generate_text(opts->request, *backend);
    std::printf("%s\n", text.c_str());
  });
}

}  // namespace primus::app
