// Each malformed or invalid config gets its own case: loading throws a usage error (exit code 2)
// whose message names the file:line, the key and the specific problem (with a suggestion where one
// fits), and reports exactly the expected number of problems (no noise from follow-on checks).
#include <gtest/gtest.h>

#include "config/loader.h"
#include "config_test_util.h"

namespace primus::config {
namespace {

using testing::ScratchDir;

// A valid experiment: lines 1-4, then `extra` from line 5 on.
std::string exp(const std::string& model = "{preset: gpt2-tiny}",
                const std::string& train = "{micro_batch_size: 2, global_batch_size: 4, seq_len: 32, steps: 10}",
                const std::string& extra = "") {
  return "exp_name: t\n"
         "data: {mock: true}\n"
         "model: " + model + "\n"
         "train: " + train + "\n" + extra;
}

struct BadConfig {
  std::string name;
  std::vector<std::pair<std::string, std::string>> files;  // the first one is loaded
  std::vector<std::string> overrides;
  std::vector<std::string> expected;                       // fragments of the message
  int problems = 1;                                        // problems reported; 0 = not checked
};

std::ostream& operator<<(std::ostream& os, const BadConfig& c) { return os << c.name; }

const std::string kTrain = "{micro_batch_size: 2, global_batch_size: 4, seq_len: 32, steps: 10}";
const std::string kLlama = "{preset: llama-tiny";

std::vector<BadConfig> bad_configs() {
  return {
      {"UnknownKeySuggestsTheClosest", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "optim:\n  lr: 0.001\n  wieght_decay: 0.1\n")}}, {},
       {"bad.yaml:7: optim.wieght_decay: unknown key; did you mean optim.weight_decay?"}},
      {"UnknownSectionSuggestsTheClosest", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "shedule: {kind: cosine}\n")}}, {},
       {"bad.yaml:5: shedule: unknown key; did you mean schedule?"}},
      {"KeyInTheWrongSectionSuggestsItsHome", {{"bad.yaml", exp("{preset: gpt2-tiny}", "{micro_batch_size: 2, global_batch_size: 4, seq_len: 32, steps: 10, lr: 0.1}")}}, {},
       {"bad.yaml:4: train.lr: unknown key; did you mean optim.lr?"}},
      {"IntegerGivenText", {{"bad.yaml", exp("{preset: gpt2-tiny}", "{micro_batch_size: 2, global_batch_size: 4, seq_len: 32, steps: ten}")}}, {},
       {"bad.yaml:4: train.steps: expected integer, got 'ten'"}},
      {"IntegerGivenFraction", {{"bad.yaml", exp("{preset: gpt2-tiny, num_layers: 2.5}")}}, {},
       {"bad.yaml:3: model.num_layers: expected integer, got '2.5'"}},
      {"NumberGivenText", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "optim: {lr: fast}\n")}}, {},
       {"bad.yaml:5: optim.lr: expected number, got 'fast'"}},
      {"BooleanGivenText", {{"bad.yaml", exp("{preset: gpt2-tiny, tie_embeddings: maybe}")}}, {},
       {"bad.yaml:3: model.tie_embeddings: expected boolean (true or false), got 'maybe'"}},
      {"UnsignedGivenNegative", {{"bad.yaml", exp("{preset: gpt2-tiny}", "{micro_batch_size: 2, global_batch_size: 4, seq_len: 32, steps: 10, seed: -1}")}}, {},
       {"bad.yaml:4: train.seed: expected unsigned integer, got '-1'"}},
      {"SectionGivenAScalar", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "optim: 0.001\n")}}, {},
       {"bad.yaml:5: optim: is a section; expected a map of its fields, got '0.001'"}},
      {"FieldGivenAMap", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "optim:\n  lr: {peak: 0.1}\n")}}, {},
       {"bad.yaml:6: optim.lr: expected number, got a map"}},
      {"NegativeLearningRate", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "optim: {lr: -0.1}\n")}}, {},
       {"bad.yaml:5: optim.lr: -0.1 is out of range: must be >= 0"}},
      {"ZeroSteps", {{"bad.yaml", exp("{preset: gpt2-tiny}", "{micro_batch_size: 2, global_batch_size: 4, seq_len: 32, steps: 0}")}}, {},
       {"bad.yaml:4: train.steps: 0 is out of range: must be >= 1"}},
      {"BetaOfOne", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "optim: {beta2: 1.0}\n")}}, {},
       {"bad.yaml:5: optim.beta2: 1.0 is out of range: must be [0, 1)"}},
      {"ZeroStageTwo", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "parallel: {zero: 2}\n")}}, {},
       {"bad.yaml:5: parallel.zero: 2 is out of range: must be [0, 1]"}},
      {"HeadsDoNotDivideChannels", {{"bad.yaml", exp("{preset: gpt2-tiny, hidden_size: 90}")}}, {},
       {"bad.yaml:3: model.hidden_size: 90 is not divisible by model.num_attention_heads = 4", "preset gpt2-tiny"}},
      {"KvHeadsDoNotDivideHeads", {{"bad.yaml", exp(kLlama + ", num_kv_heads: 3}")}}, {},
       {"bad.yaml:3: model.num_kv_heads: model.num_attention_heads = 4 is not a multiple of 3"}},
      {"Gpt2WithGroupedQueryAttention", {{"bad.yaml", exp("{preset: gpt2-tiny, num_kv_heads: 2}")}}, {},
       {"bad.yaml:3: model.num_kv_heads: gpt2 has no grouped-query attention"}},
      {"LlamaWithoutMlpSize", {{"bad.yaml", exp(kLlama + ", ffn_hidden_size: 0}")}}, {},
       {"bad.yaml:3: model.ffn_hidden_size: llama needs an explicit MLP size"}},
      {"GlobalBatchNotAMultipleOfMicroBatch", {{"bad.yaml", exp("{preset: gpt2-tiny}", "{micro_batch_size: 3, global_batch_size: 10, seq_len: 32, steps: 10}")}}, {},
       {"bad.yaml:4: train.global_batch_size: 10 is not a multiple of train.micro_batch_size = 3"}},
      {"SequenceLongerThanPositions", {{"bad.yaml", exp("{preset: gpt2-tiny}", "{micro_batch_size: 2, global_batch_size: 4, seq_len: 128, steps: 10}")}}, {},
       {"bad.yaml:4: train.seq_len: 128 is longer than model.max_position_embeddings = 64", "gpt2-tiny.yaml:11 (preset gpt2-tiny)"}},
      {"SequenceParallelWithoutTensorParallel", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "parallel: {sequence_parallel: true}\n")}}, {},
       {"bad.yaml:5: parallel.sequence_parallel: needs parallel.tensor > 1"}},
      {"TensorDoesNotDivideHeads", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "parallel: {tensor: 3}\n")}}, {},
       {"bad.yaml:5: parallel.tensor: 3 does not divide model.num_attention_heads = 4"}, 2},
      {"PipelineDoesNotDivideLayers", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "parallel: {pipeline: 3}\n")}}, {},
       {"bad.yaml:5: parallel.pipeline: model.num_layers = 2 is not divisible by pipeline * virtual_pipeline = 3"}},
      {"VirtualPipelineWithoutPipeline", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "parallel:\n  virtual_pipeline: 2\n")}}, {},
       {"bad.yaml:6: parallel.virtual_pipeline: 2 needs parallel.pipeline > 1"}},
      {"UnknownArchSuggestsOne", {{"bad.yaml", exp("{preset: gpt2-tiny, arch: gpt3}")}}, {},
       {"bad.yaml:3: model.arch: 'gpt3' is not one of gpt2|llama; did you mean gpt2?"}},
      {"UnknownScheduleKind", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "schedule:\n  kind: cosin\n")}}, {},
       {"bad.yaml:6: schedule.kind: 'cosin' is not one of constant|linear|cosine|wsd; did you mean cosine?"}},
      {"UnknownComputeDtype", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "precision: {compute: fp16}\n")}}, {},
       {"bad.yaml:5: precision.compute: 'fp16' is not one of fp32|bf16"}},
      {"UnknownDevice", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "backend: {device: gpu}\n")}}, {},
       {"bad.yaml:5: backend.device: 'gpu' is not one of cpu|cuda"}},
      {"KeepNoCheckpoints", {{"bad.yaml", exp("{preset: gpt2-tiny}", kTrain, "checkpoint: {keep_last: 0}\n")}}, {},
       {"bad.yaml:5: checkpoint.keep_last: 0 is out of range: must be >= 1"}},
      {"ExperimentNameWithSlash", {{"bad.yaml", "exp_name: a/b\n" + exp().substr(12)}}, {},
       {"bad.yaml:1: exp_name: 'a/b' must be a plain folder name"}},
      {"ExperimentNameIsAPath", {{"bad.yaml", "exp_name: ../up\n" + exp().substr(std::string("exp_name: t\n").size())}}, {},
       {"bad.yaml:1: exp_name: '../up' must be a plain folder name"}},
      {"NoTrainingData", {{"bad.yaml", "model: {preset: gpt2-tiny}\ntrain: " + kTrain + "\n"}}, {},
       {"data.train: no training data"}},
      {"PathsMixedWithWeights", {{"bad.yaml", "exp_name: t\ndata: {train: [a, 0.5, b]}\nmodel: {preset: gpt2-tiny}\ntrain: " + kTrain + "\n"}}, {},
       {"bad.yaml:2: data.train: expected a path or a blend"}},
      {"BlendOddLength", {{"bad.yaml", "exp_name: t\ndata: {train: [0.5, a, b]}\nmodel: {preset: gpt2-tiny}\ntrain: " + kTrain + "\n"}}, {},
       {"bad.yaml:2: data.train: expected a path or a blend [weight, path, weight, path, ...], got a list"}},
      {"BlendNegativeWeight", {{"bad.yaml", "exp_name: t\ndata:\n  train: [-1, a, 2, b]\nmodel: {preset: gpt2-tiny}\ntrain: " + kTrain + "\n"}}, {},
       {"bad.yaml:3: data.train: blend weight -1 of 'a' must be > 0"}},
      {"BadSplit", {{"bad.yaml", "exp_name: t\ndata: {mock: true, split: '90,10'}\nmodel: {preset: gpt2-tiny}\ntrain: " + kTrain + "\n"}}, {},
       {"bad.yaml:2: data.split: '90,10' is not three comma-separated"}},
      {"UnknownPresetSuggestsOne", {{"bad.yaml", exp("{preset: gpt2-tiy}")}}, {},
       {"bad.yaml:3: model.preset: unknown preset 'gpt2-tiy'; did you mean gpt2-tiny?"}},
      {"MissingExtendsFile", {{"bad.yaml", "extends: [base/missing.yaml]\n" + exp()}}, {},
       {"bad.yaml:1: extends: no such file", "base/missing.yaml"}},
      {"ExtendsIsAMap", {{"bad.yaml", "extends: {a: 1}\n" + exp()}}, {}, {"bad.yaml:1: extends: expected a file or a list of files"}},
      {"ExtendsCycleReportsTheChain",
       {{"a.yaml", "extends: [b.yaml]\n" + exp()}, {"b.yaml", "extends: sub/c.yaml\n"}, {"sub/c.yaml", "# loops back\nextends: [../a.yaml]\n"}}, {},
       {"sub/c.yaml:2: extends: cycle", "a.yaml -> ", "b.yaml -> ", "sub/c.yaml -> ", "a.yaml"}},
      {"EnvDefaultTypedAfterSubstitution", {{"bad.yaml", exp("{preset: gpt2-tiny}", "{micro_batch_size: 2, global_batch_size: 4, seq_len: 32, steps: '${PRIMUS_TEST_SURELY_UNSET_VARIABLE:ten}'}")}}, {},
       {"bad.yaml:4: train.steps: expected integer, got 'ten'"}},
      {"UnsetVariableWithoutDefault", {{"bad.yaml", "exp_name: ${PRIMUS_TEST_SURELY_UNSET_VARIABLE}\n" + exp().substr(12)}}, {},
       {"bad.yaml:1: environment variable PRIMUS_TEST_SURELY_UNSET_VARIABLE is not set"}},
      {"YamlSyntaxError", {{"bad.yaml", "exp_name: t\nmodel: [1, 2\n"}}, {}, {"bad.yaml:", "YAML syntax error"}},
      {"TomlSyntaxError", {{"bad.toml", "exp_name = \"t\"\n[model\n"}}, {}, {"bad.toml:2: TOML syntax error"}},
      {"TomlDateValue", {{"bad.toml", "exp_name = 1979-05-27\n"}}, {}, {"bad.toml:1: dates and times are not config values"}},
      {"DuplicateKey", {{"bad.yaml", exp() + "train: {steps: 5}\n"}}, {}, {"bad.yaml:5: train: key given twice"}},
      {"TopLevelList", {{"bad.yaml", "- a\n- b\n"}}, {}, {"bad.yaml:1: the top level must be a map of sections"}},
      {"UnknownExtension", {{"bad.json", "{}"}}, {}, {"bad.json: unknown config format '.json'"}},
      {"SetUnknownKeySuggests", {{"ok.yaml", exp()}}, {"optim.lrr=0.1"}, {"--set optim.lrr=0.1: optim.lrr: unknown key; did you mean optim.lr?"}},
      {"SetWrongType", {{"ok.yaml", exp()}}, {"train.steps=abc"}, {"--set train.steps=abc: train.steps: expected integer, got 'abc'"}},
      {"SetWithoutValue", {{"ok.yaml", exp()}}, {"train.steps"}, {"--set train.steps: expected key=value"}},
      {"SetASection", {{"ok.yaml", exp()}}, {"optim=1"}, {"--set optim=1: optim: is a section"}},
      {"SetOutOfRange", {{"ok.yaml", exp()}}, {"optim.lr=-1"}, {"--set optim.lr=-1: optim.lr: -1.0 is out of range"}},
      {"UnterminatedInterpolation", {{"bad.yaml", "exp_name: t${HOME\n" + exp().substr(12)}}, {}, {"bad.yaml:1: unterminated '${'"}},
      {"AllProblemsAtOnce",
       {{"bad.yaml", exp("{preset: gpt2-tiny, arch: gpt3}", "{micro_batch_size: 2, global_batch_size: 4, seq_len: 32, stepz: 10}", "optim: {lr: -1}\n")}}, {},
       {"(3 problems)", "bad.yaml:3: model.arch", "bad.yaml:4: train.stepz: unknown key; did you mean train.steps?", "bad.yaml:5: optim.lr"}, 3},
  };
}

class InvalidConfig : public ::testing::TestWithParam<BadConfig> {};

TEST_P(InvalidConfig, ThrowsUsageErrorNamingTheProblem) {
  const BadConfig& c = GetParam();
  ScratchDir dir;
  std::string first;
  for (const auto& [name, text] : c.files) {
    std::string path = dir.write(name, text);
    if (first.empty()) first = path;
  }
  std::string message = testing::load_error(first, c.overrides);
  for (const std::string& fragment : c.expected)
    EXPECT_NE(message.find(fragment), std::string::npos) << "missing \"" << fragment << "\" in:\n" << message;
  if (c.problems > 0) {
    std::string count = c.problems == 1 ? "(1 problem)" : "(" + std::to_string(c.problems) + " problems)";
    EXPECT_NE(message.find(count), std::string::npos) << "expected " << count << " in:\n" << message;
  }
}

INSTANTIATE_TEST_SUITE_P(Config, InvalidConfig, ::testing::ValuesIn(bad_configs()),
                         [](const ::testing::TestParamInfo<BadConfig>& info) { return info.param.name; });

}  // namespace
}  // namespace primus::config
