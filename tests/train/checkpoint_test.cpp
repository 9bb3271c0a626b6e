// Checkpoints: HF weights round trip, a failed save leaves the previous checkpoint intact,
// keep_last pruning, `latest`, and --init-from with a different model shape changes nothing.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "models/hf_layout.h"
#include "tiny.h"
#include "train/atomic_file.h"
#include "train/checkpoint.h"
#include "train/hf_weights.h"
#include "train/safetensors.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace primus::train {
namespace {

using testing::fresh_dir;
using testing::tiny_config;
using testing::TinyRun;

TrainerState state_at(int64_t step) {
  TrainerState s;
  s.step = step;
  s.train_loader = {{"kind", "mock"}, {"rng", 1}};
  return s;
}

TEST(Checkpoint, HfWeightsRoundTripIntoAFreshModel) {
  auto cfg = tiny_config();
  auto dir = fresh_dir("hf");
  TinyRun a(cfg, 1), b(cfg, 2);
  ASSERT_NE(a.params(), b.params());
  save_hf_weights(dir.string(), *a.model);
  auto hf = nlohmann::json::parse(read_file((dir / "config.json").string()));
  EXPECT_EQ(hf["model_type"], "gpt2");
  EXPECT_EQ(hf["n_embd"], 32);
  SafetensorsReader r((dir / "model.safetensors").string());
  EXPECT_NE(r.find("transformer.wte.weight"), nullptr);
  EXPECT_EQ(r.at("transformer.wte.weight").shape, (std::vector<int64_t>{96, 32}));   // V rows, not Vp
  EXPECT_EQ(r.metadata().at("format"), "pt");
  load_hf_weights(dir.string(), *b.model);
  // Equal everywhere (init_weights leaves the padded embedding rows, which HF does not store, at 0).
  EXPECT_EQ(a.params(), b.params());
  auto back = model_config_from_hf(hf, "config.json");
  EXPECT_EQ(back.num_layers, 2);
  EXPECT_EQ(back.vocab_size, 96);
  fs::remove_all(dir);
}

TEST(Checkpoint, FailedSaveLeavesThePreviousOneIntact) {
  auto cfg = tiny_config();
  auto dir = fresh_dir("atomic");
  TinyRun r(cfg);
  AdamW opt(cfg.optim, *r.backend, r.model->params(), r.model->num_params());
  CheckpointSaveOptions so;
  auto first = save_checkpoint(dir.string(), *r.model, opt, state_at(5), so);
  const std::string weights = read_file(first + "/model.safetensors");
  const std::string state = read_file(first + "/trainer_state.json");
  r.model->init_weights(77);   // new weights, then a save that dies before it is published
  so.before_publish = [](const std::string& tmp) {
    EXPECT_TRUE(fs::exists(tmp + "/model.safetensors"));
    throw Error("simulated crash");
  };
  EXPECT_THROW(save_checkpoint(dir.string(), *r.model, opt, state_at(10), so), Error);
  EXPECT_FALSE(fs::exists(dir / "step_00000010"));
  EXPECT_EQ(read_file(first + "/model.safetensors"), weights);
  EXPECT_EQ(read_file(first + "/trainer_state.json"), state);
  EXPECT_EQ(latest_checkpoint(dir.string()), first);
  EXPECT_EQ(fs::read_symlink(dir / "latest"), "step_00000005");
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  // Saving the same step twice replaces it.
  so.before_publish = nullptr;
  save_checkpoint(dir.string(), *r.model, opt, state_at(5), so);
  EXPECT_NE(read_file(first + "/model.safetensors"), weights);
  fs::remove_all(dir);
}

TEST(Checkpoint, KeepLastPrunesTheOldest) {
  auto cfg = tiny_config();
  auto dir = fresh_dir("prune");
  TinyRun r(cfg);
  AdamW opt(cfg.optim, *r.backend, r.model->params(), r.model->num_params());
  CheckpointSaveOptions so;
  so.keep_last = 2;
  for (int64_t s : {2, 4, 6, 8, 10}) save_checkpoint(dir.string(), *r.model, opt, state_at(s), so);
  auto all = list_checkpoints(dir.string());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(fs::path(all[0]).filename(), "step_00000008");
  EXPECT_EQ(fs::path(all[1]).filename(), "step_00000010");
  EXPECT_TRUE(fs::exists(dir / "latest" / "model.safetensors"));
  EXPECT_EQ(fs::read_symlink(dir / "latest"), "step_00000010");
  fs::remove_all(dir);
}

TEST(Checkpoint, TrainerWritesPeriodicAndFinalCheckpoints) {
  auto cfg = tiny_config();
  cfg.train.steps = 7;
  cfg.checkpoint.every_steps = 3;
  cfg.checkpoint.keep_last = 0;
  auto dir = fresh_dir("periodic");
  TinyRun r(cfg);
  TrainerOptions o;
  o.checkpoints_dir = dir.string();
  Trainer t(cfg, *r.model, *r.train, nullptr, o);
  t.run();
  auto all = list_checkpoints(dir.string());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(fs::path(all[2]).filename(), "step_00000007");
  for (const char* f : {"model.safetensors", "config.json", "optimizer.safetensors", "trainer_state.json"})
    EXPECT_TRUE(fs::exists(fs::path(all[2]) / f)) << f;
  auto st = nlohmann::json::parse(read_file(all[2] + "/trainer_state.json"));
  EXPECT_EQ(st["step"], 7);
  EXPECT_EQ(st["adamw_steps"], 7);
  EXPECT_EQ(st["tokens_seen"], 7 * 4 * 8);
  EXPECT_EQ(st["train_loader"]["kind"], "mock");
  fs::remove_all(dir);
}

TEST(Checkpoint, InitFromADifferentShapeIsAClearErrorAndChangesNothing) {
  auto cfg = tiny_config();
  auto dir = fresh_dir("shape");
  auto other = cfg;
  other.model.hidden_size = 64;
  TinyRun src(other);
  save_hf_weights(dir.string(), *src.model);
  const std::string weights = read_file((dir / "model.safetensors").string());
  TinyRun dst(cfg);
  auto before = dst.params();
  Trainer t(cfg, *dst.model, *dst.train, nullptr);
  try {
    t.init_from(dir.string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("different model shape"), std::string::npos) << msg;
    EXPECT_NE(msg.find("hidden_size: checkpoint 64 vs experiment 32"), std::string::npos) << msg;
  }
  EXPECT_EQ(dst.params(), before);
  EXPECT_EQ(read_file((dir / "model.safetensors").string()), weights);
  // Without config.json (a bare weights folder) the tensor shapes catch it.
  fs::remove(dir / "config.json");
  try {
    t.init_from(dir.string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("do not match the model"), std::string::npos) << e.what();
  }
  EXPECT_EQ(dst.params(), before);
  fs::remove_all(dir);
}

TEST(Checkpoint, InitFromReadsBf16WeightsWithoutThePrefix) {
  // Transformers' original gpt2 files name tensors without "transformer." and may be bf16.
  auto cfg = tiny_config();
  auto dir = fresh_dir("bf16");
  TinyRun a(cfg, 1), b(cfg, 2);
  auto pa = a.params();
  std::vector<std::vector<uint16_t>> store;
  SafetensorsWriter w;
  auto infos = a.model->params();
  for (const auto& t : a.model->hf_tensors()) {
    std::vector<float> part(static_cast<size_t>(t.hf_shape.numel()));
    const auto& info = infos[static_cast<size_t>(t.param_index)];
    models::hf_tensor_gather(part, t, info, {pa.data() + info.offset, static_cast<size_t>(info.shape.numel())});
    std::vector<uint16_t> h(part.size());
    for (size_t i = 0; i < part.size(); ++i) h[i] = bf16_from_float(part[i]);
    store.push_back(std::move(h));
    std::string name = t.hf_name.rfind("transformer.", 0) == 0 ? t.hf_name.substr(12) : t.hf_name;
    w.add(name, DType::kBF16, std::vector<int64_t>(t.hf_shape.dims.begin(), t.hf_shape.dims.begin() + t.hf_shape.ndim),
          store.back().data());
  }
  w.write((dir / "model.safetensors").string());
  load_hf_weights(dir.string(), *b.model);
  auto pb = b.params();
  const auto& wte = infos[0];
  for (int64_t i = 0; i < 96 * 32; ++i)
    EXPECT_EQ(pb[static_cast<size_t>(wte.offset + i)], bf16_to_float(bf16_from_float(pa[static_cast<size_t>(wte.offset + i)])));
  fs::remove_all(dir);
}

TEST(Checkpoint, InitFromReadsTransformersShards) {
  // Big transformers models come as model-0000N-of-0000M.safetensors plus an index.
  auto cfg = tiny_config();
  auto dir = fresh_dir("shards");
  TinyRun a(cfg, 1), b(cfg, 2);
  save_hf_weights(dir.string(), *a.model);
  SafetensorsReader whole((dir / "model.safetensors").string());
  SafetensorsWriter w1, w2;
  nlohmann::json map = nlohmann::json::object();
  int n = 0;
  for (const auto& e : whole.entries()) {
    const bool first = n++ % 2 == 0;
    (first ? w1 : w2).add(e.name, e.dtype, e.shape, whole.raw(e));
    map[e.name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  w1.write((dir / "model-00001-of-00002.safetensors").string());
  w2.write((dir / "model-00002-of-00002.safetensors").string());
  write_file_atomic((dir / "model.safetensors.index.json").string(), nlohmann::json{{"weight_map", map}}.dump());
  fs::remove(dir / "model.safetensors");
  load_hf_weights(dir.string(), *b.model);
  EXPECT_EQ(a.params(), b.params());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace primus::train
