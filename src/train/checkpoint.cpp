// Training checkpoints (see checkpoint.h).
#include "train/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "data/tokenizer.h"
#include "train/atomic_file.h"
#include "models/shard.h"
#include "train/hf_weights.h"
#include "train/safetensors.h"

namespace fs = std::filesystem;

namespace primus::train {

namespace {

constexpr const char* kPrefix = "step_";

bool is_checkpoint_name(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0 || name.size() <= 5) return false;
  return std::all_of(name.begin() + 5, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void write_optimizer_state(const std::string& dir, models::Model& model, AdamW& opt, const FullState* full) {
  Backend& backend = model.backend();
  const auto P = static_cast<size_t>(full ? full->params.size() : model.num_params());
  std::vector<float> params(P), m(P), v(P);   // (P) each, the full model's layout
  if (full) {
    params = full->params, m = full->m, v = full->v;
  } else {
    backend.copy_to_host(params.data(), model.params_buffer());
    backend.copy_to_host(m.data(), opt.m());
    backend.copy_to_host(v.data(), opt.v());
  }
  SafetensorsWriter w;
  w.set_metadata("adamw_steps", std::to_string(opt.steps_taken()));
  w.add("params", DType::kF32, {static_cast<int64_t>(P)}, params.data());
  w.add("adamw.m", DType::kF32, {static_cast<int64_t>(P)}, m.data());
  w.add("adamw.v", DType::kF32, {static_cast<int64_t>(P)}, v.data());
  w.write((fs::path(dir) / "optimizer.safetensors").string());
}

void remove_quietly(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
}

}  // namespace

std::string checkpoint_dir_name(int64_t step) { return fmt::format("{}{:08d}", kPrefix, step); }

std::string save_checkpoint(const std::string& checkpoints_dir, models::Model& model, AdamW& optimizer,
                            const TrainerState& state, const CheckpointSaveOptions& options) {
  const fs::path root(checkpoints_dir);
  fs::create_directories(root);
  const std::string name = checkpoint_dir_name(state.step);
  const fs::path final_dir = root / name;
  const fs::path tmp_dir = root / fmt::format(".{}.tmp.{}", name, static_cast<long>(::getpid()));
  remove_quietly(tmp_dir);
  fs::create_directories(tmp_dir);
  try {
    nlohmann::json extra = nlohmann::json::object();
    if (!options.tokenizer_path.empty() && fs::exists(options.tokenizer_path)) {
      // transformers' generate() stops at eos_token_id; GPT-2's default (50256) is not our vocabulary.
      const auto tok = data::Tokenizer::load(options.tokenizer_path);
      extra["eos_token_id"] = tok.eos_id() >= 0 ? nlohmann::json(tok.eos_id()) : nlohmann::json();
      extra["bos_token_id"] = tok.bos_id() >= 0 ? nlohmann::json(tok.bos_id()) : extra["eos_token_id"];
    }
    if (options.full_state)
      save_hf_weights(tmp_dir.string(), model, options.full_state->params, extra);
    else
      save_hf_weights(tmp_dir.string(), model, extra);
    write_optimizer_state(tmp_dir.string(), model, optimizer, options.full_state);
    nlohmann::json st = {{"step", state.step},
                         {"adamw_steps", optimizer.steps_taken()},
                         {"tokens_seen", state.tokens_seen},
                         {"rng_state", std::to_string(state.rng_state)},
                         {"train_loader", state.train_loader},
                         {"extra", state.extra}};
    write_file_atomic((tmp_dir / "trainer_state.json").string(), st.dump(2) + "\n");
    if (!options.tokenizer_path.empty() && fs::exists(options.tokenizer_path))
      write_file_atomic((tmp_dir / "tokenizer.json").string(), read_file(options.tokenizer_path));
    fsync_dir(tmp_dir.string());
    if (options.before_publish) options.before_publish(tmp_dir.string());
    // Publish: an older folder of the same step (a re-run after resume) is moved aside first.
    const fs::path old_dir = root / fmt::format(".{}.old.{}", name, static_cast<long>(::getpid()));
    if (fs::exists(final_dir)) fs::rename(final_dir, old_dir);
    fs::rename(tmp_dir, final_dir);
    fsync_dir(root.string());
    remove_quietly(old_dir);
  } catch (const fs::filesystem_error& e) {
    remove_quietly(tmp_dir);
    throw Error(fmt::format("cannot save checkpoint {}: {}", final_dir.string(), e.what()), "is the disk full?");
  } catch (...) {
    remove_quietly(tmp_dir);
    throw;
  }
  // `latest` -> step_N, swapped by renaming a fresh symlink over it.
  const fs::path link = root / "latest", tmp_link = root / fmt::format(".latest.tmp.{}", static_cast<long>(::getpid()));
  remove_quietly(tmp_link);
  fs::create_directory_symlink(name, tmp_link);
  fs::rename(tmp_link, link);
  fsync_dir(root.string());
  if (options.keep_last > 0) prune_checkpoints(checkpoints_dir, options.keep_last);
  return final_dir.string();
}

std::vector<std::string> list_checkpoints(const std::string& checkpoints_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(checkpoints_dir, ec)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && !e.is_symlink() && is_checkpoint_name(n)) names.push_back(n);
  }
  std::sort(names.begin(), names.end());   // zero-padded: lexical order is step order
  std::vector<std::string> out;
  for (const auto& n : names) out.push_back((fs::path(checkpoints_dir) / n).string());
  return out;
}

std::string latest_checkpoint(const std::string& checkpoints_dir) {
  auto all = list_checkpoints(checkpoints_dir);
  return all.empty() ? std::string() : all.back();
}

void prune_checkpoints(const std::string& checkpoints_dir, int64_t keep_last) {
  auto all = list_checkpoints(checkpoints_dir);
  for (size_t i = 0; keep_last > 0 && i + static_cast<size_t>(keep_last) < all.size(); ++i) remove_quietly(all[i]);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(checkpoints_dir, ec)) {
    const std::string n = e.path().filename().string();
    // Temporary folders of this process are gone by now; others are leftovers of a crash.
    if (n.rfind(".step_", 0) == 0) remove_quietly(e.path());
  }
}

TrainerState load_checkpoint(const std::string& dir, models::Model& model, AdamW& optimizer) {
  const fs::path d(dir);
  const fs::path state_path = d / "trainer_state.json", opt_path = d / "optimizer.safetensors";
  if (!fs::exists(state_path) || !fs::exists(opt_path))
    throw Error(fmt::format("{} is not a complete training checkpoint (trainer_state.json, optimizer.safetensors)", dir),
                "use --init-from to start from weights only");
  load_hf_weights(dir, model);   // checks the model shape first
  nlohmann::json st;
  try {
    st = nlohmann::json::parse(read_file(state_path.string()));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", state_path.string(), e.what()));
  }
  SafetensorsReader r(opt_path.string());
  // The file holds the full model: a tensor-parallel slice or pipeline stage takes its part.
  const bool sharded = model.shard().tp_size() > 1 || model.num_params() != full_num_params(model.config());
  const auto P = sharded ? full_num_params(model.config()) : model.num_params();
  for (const char* name : {"params", "adamw.m", "adamw.v"})
    if (r.at(name).numel() != P)
      throw Error(fmt::format("{}: '{}' has {} elements, the model has {}", opt_path.string(), name,
                              r.at(name).numel(), P));
  Backend& backend = model.backend();
  std::vector<float> host(static_cast<size_t>(P));   // (P)
  auto read = [&](const char* name, Tensor dst) {
    r.read_f32(r.at(name), host.data());
    backend.copy_from_host(dst, sharded ? models::local_from_full(model, host).data() : host.data());
  };
  read("params", model.params_buffer());
  read("adamw.m", optimizer.m());
  read("adamw.v", optimizer.v());
  TrainerState s;
  try {
    optimizer.set_steps_taken(st.at("adamw_steps").get<int64_t>());
    s.step = st.at("step").get<int64_t>();
    s.tokens_seen = st.at("tokens_seen").get<int64_t>();
    s.rng_state = std::stoull(st.at("rng_state").get<std::string>());
    s.train_loader = st.at("train_loader");
    s.extra = st.value("extra", nlohmann::json::object());
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: incomplete trainer state: {}", state_path.string(), e.what()));
  }
  return s;
}

}  // namespace primus::train
