// Mesh arithmetic (tensor fastest, then data, then pipeline) and one case per impossible layout,
// each asserting that the message names the numbers.
#include <gtest/gtest.h>

#include "dist/mesh.h"

namespace primus::dist {
namespace {

TEST(Mesh, TensorFastestThenDataThenPipeline) {
  MeshShape s{2, 3, 2};
  EXPECT_EQ(s.world(), 12);
  for (int r = 0; r < s.world(); ++r) {
    MeshCoord c = mesh_coord(s, r);
    EXPECT_EQ(c.tensor, r % 2);
    EXPECT_EQ(c.data, (r / 2) % 3);
    EXPECT_EQ(c.pipeline, r / 6);
    EXPECT_EQ(mesh_rank(s, c), r);
  }
  // Megatron's order: ranks 0 and 1 are one tensor group; 0, 2, 4 one data group.
  EXPECT_EQ(mesh_rank(s, {1, 0, 0}), 1);
  EXPECT_EQ(mesh_rank(s, {0, 1, 0}), 2);
  EXPECT_EQ(mesh_rank(s, {0, 0, 1}), 6);
}

config::ExperimentConfig tiny() {
  config::ExperimentConfig cfg;
  cfg.model.num_layers = 4;
  cfg.model.hidden_size = 64;
  cfg.model.num_attention_heads = 4;
  cfg.model.vocab_size = 256;
  cfg.model.make_vocab_size_divisible_by = 64;
  cfg.train.micro_batch_size = 2;
  cfg.train.global_batch_size = 8;
  cfg.train.seq_len = 32;
  return cfg;
}

std::string layout_error(const config::ExperimentConfig& cfg, int world) {
  try {
    validate_layout(cfg, world);
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  ADD_FAILURE() << "no error for world " << world;
  return {};
}

TEST(Layout, ValidLayoutsGiveTheDataParallelSize) {
  auto cfg = tiny();
  MeshShape s = validate_layout(cfg, 4);
  EXPECT_EQ(s.tensor, 1);
  EXPECT_EQ(s.data, 4);
  cfg.parallel.tensor = 2;
  cfg.parallel.pipeline = 2;
  s = validate_layout(cfg, 8);
  EXPECT_EQ(s.data, 2);
  EXPECT_EQ(s.pipeline, 2);
}

TEST(Layout, WorldNotAMultipleOfTensorTimesPipeline) {
  auto cfg = tiny();
  cfg.parallel.tensor = 2;
  cfg.parallel.pipeline = 2;
  EXPECT_NE(layout_error(cfg, 6).find("world size 6 is not a multiple of tensor 2 x pipeline 2 = 4"), std::string::npos);
}

TEST(Layout, HeadsNotDivisibleByTensor) {
  auto cfg = tiny();
  cfg.parallel.tensor = 3;
  cfg.model.hidden_size = 60;
  std::string e = layout_error(cfg, 3);
  EXPECT_NE(e.find("num_attention_heads = 4 is not divisible by parallel.tensor = 3"), std::string::npos) << e;
}

TEST(Layout, KvHeadsNotDivisibleByTensor) {
  auto cfg = tiny();
  cfg.model.arch = "llama";
  cfg.model.num_kv_heads = 2;
  cfg.parallel.tensor = 4;
  std::string e = layout_error(cfg, 4);
  EXPECT_NE(e.find("num_kv_heads = 2 is not divisible by parallel.tensor = 4"), std::string::npos) << e;
}

TEST(Layout, PaddedVocabNotDivisibleByTensor) {
  auto cfg = tiny();
  cfg.model.vocab_size = 250;
  cfg.model.make_vocab_size_divisible_by = 1;
  cfg.parallel.tensor = 4;
  std::string e = layout_error(cfg, 4);
  EXPECT_NE(e.find("padded vocabulary 250"), std::string::npos) << e;
}

// Llama's default FFN (2/3 of 4C rounded up to 256: 256 for C = 96) is checked, not GPT-2's 4C (384).
TEST(Layout, LlamaDefaultFfnNotDivisibleByTensor) {
  auto cfg = tiny();
  cfg.model.arch = "llama";
  cfg.model.hidden_size = 96;
  cfg.model.num_attention_heads = 3;
  cfg.model.vocab_size = 192;
  cfg.parallel.tensor = 3;
  cfg.train.seq_len = 33;
  std::string e = layout_error(cfg, 3);
  EXPECT_NE(e.find("FFN size 256 is not divisible by parallel.tensor = 3"), std::string::npos) << e;
}

TEST(Layout, LayersNotDivisibleByPipelineStages) {
  auto cfg = tiny();
  cfg.parallel.pipeline = 2;
  cfg.parallel.virtual_pipeline = 3;
  std::string e = layout_error(cfg, 2);
  EXPECT_NE(e.find("num_layers = 4 is not divisible by pipeline 2 x virtual_pipeline 3 = 6"), std::string::npos) << e;
}

TEST(Layout, GlobalBatchNotAMultiple) {
  auto cfg = tiny();
  cfg.train.global_batch_size = 6;
  std::string e = layout_error(cfg, 4);
  EXPECT_NE(e.find("global_batch_size = 6 is not a multiple of micro_batch_size 2 x data parallel 4 = 8"),
            std::string::npos) << e;
}

TEST(Layout, SequenceParallelNeedsTensorParallel) {
  auto cfg = tiny();
  cfg.parallel.sequence_parallel = true;
  EXPECT_NE(layout_error(cfg, 2).find("sequence_parallel needs parallel.tensor > 1"), std::string::npos);
}

TEST(Layout, ZeroMustBeZeroOrOne) {
  auto cfg = tiny();
  cfg.parallel.zero = 3;
  EXPECT_NE(layout_error(cfg, 2).find("parallel.zero = 3 must be 0 or 1"), std::string::npos);
}

TEST(Layout, ZeroCombinesWithTensorAndPipeline) {
  auto cfg = tiny();
  cfg.parallel.zero = 1;
  cfg.parallel.tensor = 2;
  cfg.parallel.pipeline = 2;
  const MeshShape s = validate_layout(cfg, 8);
  EXPECT_EQ(s.tensor, 2);
  EXPECT_EQ(s.data, 2);
  EXPECT_EQ(s.pipeline, 2);
  // Impossible layouts are still named with their numbers.
  std::string e = layout_error(cfg, 6);
  EXPECT_NE(e.find("world size 6 is not a multiple of tensor 2 x pipeline 2 = 4"), std::string::npos) << e;
  cfg.parallel.tensor = 3;
  e = layout_error(cfg, 12);
  EXPECT_NE(e.find("num_attention_heads = 4 is not divisible by parallel.tensor = 3"), std::string::npos) << e;
}

TEST(Layout, EveryProblemIsReportedAtOnce) {
  auto cfg = tiny();
  cfg.parallel.tensor = 3;
  cfg.parallel.pipeline = 3;
  std::string e = layout_error(cfg, 8);
  EXPECT_NE(e.find("world size 8"), std::string::npos) << e;
  EXPECT_NE(e.find("num_attention_heads = 4"), std::string::npos) << e;
  EXPECT_NE(e.find("num_layers = 4"), std::string::npos) << e;
}

}  // namespace
}  // namespace primus::dist
