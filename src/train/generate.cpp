// Text generation from a checkpoint folder (see generate.h).
#include "train/generate.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "data/tokenizer.h"
#include "train/atomic_file.h"
#include "train/hf_weights.h"

namespace fs = std::filesystem;

namespace primus::train {

std::unique_ptr<models::Model> load_model_for_inference(const std::string& dir, Backend& backend, int64_t T) {
  const fs::path config_path = fs::path(dir) / "config.json";
  if (!fs::exists(config_path))
    throw Error(fmt::format("no config.json in {}", dir),
                "point --checkpoint at a checkpoint folder, e.g. runs/<exp>/checkpoints/latest");
  nlohmann::json hf;
  try {
    hf = nlohmann::json::parse(read_file(config_path.string()));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", config_path.string(), e.what()));
  }
  config::ModelConfig mc = model_config_from_hf(hf, config_path.string());
  mc.make_vocab_size_divisible_by = 1;   // no training here: no padding needed
  auto model = std::make_unique<models::Model>(mc, backend, 1, std::min(T, mc.max_position_embeddings));
  load_hf_weights(dir, *model);
  return model;
}

std::string generate_text(const GenerateRequest& req, Backend& backend) {
  if (req.max_new_tokens < 0) throw usage_error("--max-new-tokens must be >= 0");
  if (req.sampling.top_p <= 0 || req.sampling.top_p > 1)
    throw usage_error(fmt::format("--top-p {} is not in (0, 1]", req.sampling.top_p));
  if (req.sampling.top_k < 0) throw usage_error("--top-k must be >= 0");
  if (!fs::is_directory(req.checkpoint))
    throw usage_error(fmt::format("checkpoint folder {} does not exist", req.checkpoint),
                      "point --checkpoint at a checkpoint folder, e.g. runs/<exp>/checkpoints/latest");
  const std::string tok_path =
      req.tokenizer.empty() ? (fs::path(req.checkpoint) / "tokenizer.json").string() : req.tokenizer;
  if (!fs::exists(tok_path))
    throw usage_error(fmt::format("no tokenizer at {}", tok_path), "pass --tokenizer PATH");
  const auto tokenizer = data::Tokenizer::load(tok_path);
  std::vector<int32_t> prompt = tokenizer.encode(req.prompt);
  if (prompt.empty() && tokenizer.bos_id() >= 0) prompt.push_back(tokenizer.bos_id());
  if (prompt.empty()) throw usage_error("the prompt is empty", "pass some text with --prompt");
  const int64_t want_T = static_cast<int64_t>(prompt.size()) + std::max<int64_t>(1, req.max_new_tokens);
  auto model = load_model_for_inference(req.checkpoint, backend, want_T);
  const int64_t T = model->seq_len();
  const int64_t V = model->dims().V;
  if (tokenizer.vocab_size() > V)
    throw usage_error(fmt::format("the tokenizer has {} tokens, the model only {}", tokenizer.vocab_size(), V));
  if (static_cast<int64_t>(prompt.size()) >= T) {
    log_warn("the prompt has {} tokens; keeping the last {} to leave room in the model's context of {}",
             prompt.size(), T / 2, T);
    prompt.erase(prompt.begin(), prompt.end() - T / 2);
  }
  const int64_t max_new = std::min<int64_t>(req.max_new_tokens, T - static_cast<int64_t>(prompt.size()));
  Rng rng(req.seed);
  std::vector<int32_t> fresh;
  if (req.no_cache) {
    std::vector<int32_t> seq = prompt;
    for (int64_t i = 0; i < max_new; ++i) {
      const std::vector<float> logits = model->forward_last_logits(seq);   // (V)
      const int32_t t = models::sample_token(logits, req.sampling, rng);
      fresh.push_back(t);
      seq.push_back(t);
      if (t == tokenizer.eos_id()) break;
    }
  } else {
    models::InferenceSession session(*model, T);
    fresh = models::generate(session, prompt, max_new, req.sampling, rng, tokenizer.eos_id());
  }
  if (!fresh.empty() && fresh.back() == tokenizer.eos_id()) fresh.pop_back();
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), fresh.begin(), fresh.end());
  return tokenizer.decode(all);
}

}  // namespace primus::train
