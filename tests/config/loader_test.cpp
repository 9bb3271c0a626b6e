// Loading that works: recipes, YAML/TOML twins, extends, presets, interpolation, --set precedence
// and typing, data blends, provenance, and the rendered YAML loading back to the same config.
#include <gtest/gtest.h>

#include <cstdlib>

#include "config/loader.h"
#include "config_test_util.h"

namespace primus::config {
namespace {

using testing::ScratchDir;
using testing::source_path;

const char* kBody =
    "data: {mock: true}\n"
    "train: {micro_batch_size: 2, global_batch_size: 4, seq_len: 32, steps: 10}\n";

TEST(ConfigLoader, EveryRecipeLoads) {
  for (const char* name : {"quickstart.yaml", "quickstart.toml", "gpt2-124m.yaml", "llama-1.5b.yaml"}) {
    SCOPED_TRACE(name);
    EXPECT_NO_THROW(load_experiment(source_path(std::string("configs/experiments/") + name)));
  }
}

TEST(ConfigLoader, YamlAndTomlTwinsResolveIdentically) {
  LoadedExperiment yaml = load_experiment_with_provenance(source_path("configs/experiments/quickstart.yaml"));
  LoadedExperiment toml = load_experiment_with_provenance(source_path("configs/experiments/quickstart.toml"));
  EXPECT_EQ(render_yaml(yaml.config), render_yaml(toml.config));
  EXPECT_EQ(toml.config.model.num_layers, 4);  // set beside the preset (gpt2-tiny has 2)
  EXPECT_NE(toml.provenance.at("model.num_layers").file.find("quickstart.toml"), std::string::npos);
  EXPECT_EQ(toml.config.data.train.at(0).path, "data/quickstart/train");
  EXPECT_NE(toml.provenance.at("optim.lr").file.find("quickstart.toml"), std::string::npos);
}

TEST(ConfigLoader, Llama15bRecipeHasTheAskedShape) {
  ExperimentConfig c = load_experiment(source_path("configs/experiments/llama-1.5b.yaml"));
  EXPECT_EQ(c.model.arch, "llama");
  EXPECT_EQ(c.model.num_layers, 16);
  EXPECT_EQ(c.model.hidden_size, 2048);
  EXPECT_EQ(c.model.num_attention_heads, 32);
  EXPECT_EQ(c.model.num_kv_heads, 8);
  EXPECT_EQ(c.model.ffn_hidden_size, 8192);
  EXPECT_EQ(c.model.vocab_size, 128256);
  EXPECT_EQ(c.model.rope_theta, 500000.0);
  EXPECT_EQ(c.train.micro_batch_size, 8);
  EXPECT_EQ(c.train.seq_len, 2048);
  EXPECT_EQ(c.precision.compute, "bf16");
  EXPECT_EQ(c.backend.device, "cuda");
  EXPECT_TRUE(c.data.mock);
}

TEST(ConfigLoader, ExtendsNestsMergesMapsAndReplacesLists) {
  ScratchDir dir;
  dir.write("base/root.yaml",
            "model: {preset: gpt2-tiny}\n"
            "optim: {lr: 0.01, weight_decay: 0.5}\n"
            "data: {train: [0.5, x, 0.5, y], tokenizer: root.json}\n");
  dir.write("base/mid.yaml", "extends: [root.yaml]\noptim: {lr: 0.02}\nexp_name: mid\n");
  dir.write("other.yaml", "exp_name: other\nlogging: {every_steps: 7}\n");
  std::string top = dir.write("exps/top.yaml",
                              "extends: [../base/mid.yaml, ../other.yaml]\n"
                              "train: {micro_batch_size: 2, global_batch_size: 4, seq_len: 32, steps: 10}\n"
                              "data: {train: [1.0, z]}\n");
  LoadedExperiment loaded = load_experiment_with_provenance(top);
  const ExperimentConfig& c = loaded.config;
  EXPECT_EQ(c.optim.lr, 0.02);           // mid over root
  EXPECT_EQ(c.optim.weight_decay, 0.5);  // root kept: maps merge
  EXPECT_EQ(c.exp_name, "other");        // later extends win
  EXPECT_EQ(c.logging.every_steps, 7);
  ASSERT_EQ(c.data.train.size(), 1u);    // lists are replaced, not merged
  EXPECT_EQ(c.data.train[0].path, "z");
  EXPECT_EQ(c.data.tokenizer, "root.json");
  EXPECT_NE(loaded.provenance.at("optim.weight_decay").str().find("base/root.yaml:2"), std::string::npos);
  EXPECT_NE(loaded.provenance.at("optim.lr").str().find("base/mid.yaml:2"), std::string::npos);
  EXPECT_NE(loaded.provenance.at("data.train").str().find("exps/top.yaml:3"), std::string::npos);
}

TEST(ConfigLoader, TomlCanExtendYaml) {
  ScratchDir dir;
  dir.write("base.yaml", std::string("model: {preset: llama-tiny}\n") + kBody);
  std::string top = dir.write("top.toml", "extends = [\"base.yaml\"]\nexp_name = \"mixed\"\n[optim]\nlr = 0.003\n");
  ExperimentConfig c = load_experiment(top);
  EXPECT_EQ(c.exp_name, "mixed");
  EXPECT_EQ(c.optim.lr, 0.003);
  EXPECT_EQ(c.model.arch, "llama");
}

TEST(ConfigLoader, PresetFieldsAreOverriddenBesideThePreset) {
  ScratchDir dir;
  std::string path = dir.write("exp.yaml", std::string("model: {preset: llama-tiny, num_layers: 4}\n") + kBody);
  LoadedExperiment loaded = load_experiment_with_provenance(path);
  EXPECT_EQ(loaded.config.model.num_layers, 4);
  EXPECT_EQ(loaded.config.model.num_kv_heads, 2);  // from the preset
  EXPECT_EQ(loaded.config.model.preset, "llama-tiny");
  EXPECT_EQ(loaded.provenance.at("model.num_kv_heads").label, "preset llama-tiny");
  EXPECT_EQ(loaded.provenance.at("model.num_layers").label, "");
}

TEST(ConfigLoader, PrecedenceIsSetThenFileThenExtendsThenPreset) {
  ScratchDir dir;
  dir.write("base.yaml", "model: {num_layers: 3, hidden_size: 96, num_attention_heads: 2}\n");
  std::string path = dir.write("exp.yaml", std::string("extends: [base.yaml]\n"
                                                       "model: {preset: gpt2-tiny, hidden_size: 128}\n") + kBody);
  LoadedExperiment l = load_experiment_with_provenance(path, {"model.num_attention_heads=8"});
  EXPECT_EQ(l.config.model.vocab_size, 512);           // preset
  EXPECT_EQ(l.config.model.num_layers, 3);             // extends over preset
  EXPECT_EQ(l.config.model.hidden_size, 128);          // file over extends
  EXPECT_EQ(l.config.model.num_attention_heads, 8);    // --set over all
  EXPECT_EQ(l.provenance.at("model.num_attention_heads").str(), "--set model.num_attention_heads=8");
  EXPECT_NE(l.provenance.at("model.num_layers").str().find("base.yaml:1"), std::string::npos);
}

TEST(ConfigLoader, SetIsTypedByTheSchema) {
  ScratchDir dir;
  std::string path = dir.write("exp.yaml", std::string("model: {preset: gpt2-tiny}\n") + kBody);
  ExperimentConfig c = load_experiment(path, {"optim.lr=1e-3", "exp_name=123", "data.mock=false",
                                              "data.train=[0.3, a, 0.7, b]", "model.preset=llama-tiny",
                                              "train.steps=20", "train.steps=30", "train.seed=18446744073709551615"});
  EXPECT_DOUBLE_EQ(c.optim.lr, 1e-3);
  EXPECT_EQ(c.exp_name, "123");
  EXPECT_FALSE(c.data.mock);
  ASSERT_EQ(c.data.train.size(), 2u);
  EXPECT_DOUBLE_EQ(c.data.train[1].weight, 0.7);
  EXPECT_EQ(c.data.train[1].path, "b");
  EXPECT_EQ(c.model.arch, "llama");  // the preset named on the command line applies
  EXPECT_EQ(c.train.steps, 30);      // the last --set wins
  EXPECT_EQ(c.train.seed, 18446744073709551615ull);
}

TEST(ConfigLoader, InterpolatesEnvironmentVariablesThenTypes) {
  ScratchDir dir;
  ::setenv("PRIMUS_TEST_STEPS", "42", 1);
  ::setenv("PRIMUS_TEST_ROOT", "/data/x", 1);
  ::unsetenv("PRIMUS_TEST_UNSET");
  std::string path = dir.write("exp.yaml",
                               "exp_name: run-${PRIMUS_TEST_UNSET:dflt}-$${literal}\n"
                               "model: {preset: gpt2-tiny}\n"
                               "data: {train: '${PRIMUS_TEST_ROOT}/train', tokenizer: '${PRIMUS_TEST_UNSET:}'}\n"
                               "train: {micro_batch_size: 2, global_batch_size: 4, seq_len: 32, "
                               "steps: '${PRIMUS_TEST_STEPS}', seed: '${PRIMUS_TEST_UNSET:7}'}\n");
  ExperimentConfig c = load_experiment(path);
  EXPECT_EQ(c.train.steps, 42);
  EXPECT_EQ(c.train.seed, 7u);
  EXPECT_EQ(c.data.train.at(0).path, "/data/x/train");
  EXPECT_EQ(c.data.tokenizer, "");
  EXPECT_EQ(c.exp_name, "run-dflt-${literal}");
  ::unsetenv("PRIMUS_TEST_STEPS");
  ::unsetenv("PRIMUS_TEST_ROOT");
}

TEST(ConfigLoader, TomlStringsAreTypedAfterInterpolation) {
  ScratchDir dir;
  ::setenv("PRIMUS_TEST_LR", "0.25", 1);
  std::string path = dir.write("exp.toml",
                               "[model]\npreset = \"llama-tiny\"\n[data]\nmock = \"${PRIMUS_TEST_UNSET_MOCK:true}\"\n"
                               "[train]\nseq_len = 32\nglobal_batch_size = 4\nsteps = \"${PRIMUS_TEST_UNSET_STEPS:12}\"\n"
                               "[optim]\nlr = \"${PRIMUS_TEST_LR}\"\n");
  ExperimentConfig c = load_experiment(path);
  EXPECT_TRUE(c.data.mock);
  EXPECT_EQ(c.train.steps, 12);
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.25);
  ::unsetenv("PRIMUS_TEST_LR");
  std::string message = testing::load_error(path);
  EXPECT_NE(message.find("exp.toml:10: environment variable PRIMUS_TEST_LR is not set"), std::string::npos) << message;
}

TEST(ConfigLoader, DataAcceptsAPathABlendOrAListOfPaths) {
  ScratchDir dir;
  std::string path = dir.write("exp.yaml",
                               "model: {preset: gpt2-tiny}\n"
                               "train: {micro_batch_size: 2, global_batch_size: 4, seq_len: 32, steps: 10}\n"
                               "data:\n  train: [0.25, a, 0.75, b]\n  valid: [c, d]\n");
  ExperimentConfig c = load_experiment(path);
  ASSERT_EQ(c.data.train.size(), 2u);
  EXPECT_DOUBLE_EQ(c.data.train[0].weight, 0.25);
  EXPECT_EQ(c.data.train[0].path, "a");
  ASSERT_EQ(c.data.valid.size(), 2u);
  EXPECT_EQ(c.data.valid[1].path, "d");
  EXPECT_DOUBLE_EQ(c.data.valid[1].weight, 1.0);
  c = load_experiment(path, {"data.train=one/path"});
  ASSERT_EQ(c.data.train.size(), 1u);
  EXPECT_EQ(c.data.train[0].path, "one/path");
}

TEST(ConfigLoader, RenderedYamlLoadsBackToTheSameConfig) {
  ScratchDir dir;
  for (const char* name : {"quickstart.yaml", "gpt2-124m.yaml", "llama-1.5b.yaml"}) {
    SCOPED_TRACE(name);
    LoadedExperiment first = load_experiment_with_provenance(source_path(std::string("configs/experiments/") + name),
                                                             {"data.train=[0.5, 'a b', 0.5, \"c\"]", "checkpoint.init_from='x: y'",
                                                              "data.tokenizer=t${HOME}k.json"});
    for (const Provenance* provenance : {static_cast<const Provenance*>(nullptr), static_cast<const Provenance*>(&first.provenance)}) {
      std::string path = dir.write("resolved.yaml", render_yaml(first.config, provenance));
      ExperimentConfig second = load_experiment(path);
      second.model.preset = first.config.model.preset;  // written as a comment: its fields are expanded
      EXPECT_EQ(render_yaml(first.config), render_yaml(second));
    }
  }
}

TEST(ConfigLoader, ProvenanceCommentsNameEverySource) {
  LoadedExperiment l = load_experiment_with_provenance(source_path("configs/experiments/quickstart.yaml"), {"optim.lr=1e-3"});
  std::string text = render_yaml(l.config, &l.provenance);
  EXPECT_NE(text.find("lr: 0.001"), std::string::npos) << text;
  EXPECT_NE(text.find("# --set optim.lr=1e-3"), std::string::npos) << text;
  EXPECT_NE(text.find("# preset gpt2-tiny (") , std::string::npos) << text;
  EXPECT_NE(text.find("# from "), std::string::npos) << text;
  EXPECT_NE(text.find("quickstart.yaml:"), std::string::npos) << text;
  EXPECT_NE(text.find("# default"), std::string::npos) << text;
}

TEST(ConfigLoader, PresetsDirectoryFromTheEnvironmentComesFirst) {
  ScratchDir dir;
  dir.write("presets/gpt2-tiny.yaml", "model: {arch: gpt2, num_layers: 5, hidden_size: 32, num_attention_heads: 2, max_position_embeddings: 64}\n");
  dir.write("presets/bad-extra.yaml", "model: {num_layers: 1}\ntrain: {steps: 3}\n");
  dir.write("presets/bad-chain.yaml", "model: {preset: gpt2-tiny}\n");
  std::string path = dir.write("exp.yaml", std::string("model: {preset: gpt2-tiny}\n") + kBody);
  ::setenv("PRIMUS_PRESETS_DIR", (dir / "presets").c_str(), 1);
  EXPECT_EQ(load_experiment(path).model.num_layers, 5);
  std::string message = testing::load_error(path, {"model.preset=bad-extra"});
  EXPECT_NE(message.find("bad-extra.yaml:2 (preset bad-extra): train: a preset may only set model.* keys"), std::string::npos) << message;
  message = testing::load_error(path, {"model.preset=bad-chain"});
  EXPECT_NE(message.find("model.preset: a preset cannot name another preset"), std::string::npos) << message;
  ::unsetenv("PRIMUS_PRESETS_DIR");
  EXPECT_EQ(load_experiment(path).model.num_layers, 2);  // back to the project's own preset
}

TEST(ConfigLoader, PresetsAreFoundNextToTheExperimentsConfigsFolder) {
  ScratchDir dir;
  dir.write("proj/configs/models/gpt2-tiny.yaml", "model: {num_layers: 6}\n");
  std::string path = dir.write("proj/configs/experiments/exp.yaml", std::string("model: {preset: gpt2-tiny}\n") + kBody);
  std::vector<std::string> search = presets_search_path(path);
  ASSERT_FALSE(search.empty());
  EXPECT_NE(search[0].find("proj/configs/models"), std::string::npos);
  EXPECT_EQ(load_experiment(path).model.num_layers, 6);
}

TEST(ConfigLoader, ListsTheProjectPresets) {
  std::vector<std::string> names = list_presets(source_path("configs/experiments/quickstart.yaml"));
  for (const char* expected : {"gpt2-124m", "gpt2-350m", "gpt2-774m", "gpt2-1.5b", "gpt2-tiny", "llama-tiny",
                               "llama3.2-1b", "llama3.2-3b", "llama3.1-8b", "llama3.1-70b", "qwen2.5-7b"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
}

}  // namespace
}  // namespace primus::config
