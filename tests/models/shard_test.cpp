// Tensor-parallel parameter slices (plan_params with tp > 1, ParamInfo::slice) and the host moves
// between full tensors and slices: every rank keeps the full names and order, the slices of all
// ranks tile each split tensor exactly once (the fused QKV by heads, GQA aware; gate_up as gate and
// up halves; row-parallel projections by columns; the padded vocabulary by rows), and
// extract-then-insert over all ranks rebuilds the full tensor.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "core/error.h"
#include "models/model.h"
#include "models/shard.h"

namespace primus::models {
namespace {

config::ModelConfig tiny_llama() {
  config::ModelConfig m;
  m.arch = "llama";
  m.num_layers = 2;
  m.hidden_size = 64;
  m.num_attention_heads = 8;
  m.num_kv_heads = 4;
  m.ffn_hidden_size = 96;
  m.vocab_size = 500;
  m.make_vocab_size_divisible_by = 64;
  m.max_position_embeddings = 32;
  m.qkv_bias = true;
  m.tie_embeddings = false;
  return m;
}

const ParamInfo& find(const std::vector<ParamInfo>& infos, const std::string& name) {
  for (const ParamInfo& p : infos)
    if (p.name == name) return p;
  throw Error("no parameter " + name);
}

TEST(ShardPlan, QkvSplitByHeadsWithGroupedQuery) {
  const auto cfg = tiny_llama();   // HS = 8: q 64 rows, k 32, v 32
  const auto r1 = plan_params(cfg, 2, 1);
  const ParamInfo& qkv = find(r1, "h.1.attn.qkv.weight");
  EXPECT_EQ(qkv.full_shape, (Shape{128, 64}));
  EXPECT_EQ(qkv.shape, (Shape{64, 64}));
  ASSERT_EQ(qkv.slice.dim, 0);
  const std::vector<std::pair<int64_t, int64_t>> want = {{32, 64}, {80, 96}, {112, 128}};
  EXPECT_EQ(qkv.slice.ranges, want);
  EXPECT_EQ(find(r1, "h.1.attn.qkv.bias").slice.ranges, want);
  const ParamInfo& gate_up = find(r1, "h.0.mlp.gate_up.weight");   // gate rows [48,96), up rows [144,192)
  EXPECT_EQ(gate_up.slice.ranges, (std::vector<std::pair<int64_t, int64_t>>{{48, 96}, {144, 192}}));
  const ParamInfo& o = find(r1, "h.0.attn.o_proj.weight");
  EXPECT_EQ(o.slice.dim, 1);
  EXPECT_EQ(o.shape, (Shape{64, 32}));
  EXPECT_EQ(find(r1, "h.0.mlp.down.weight").slice.ranges, (std::vector<std::pair<int64_t, int64_t>>{{48, 96}}));
  EXPECT_EQ(find(r1, "lm_head.weight").slice.ranges, (std::vector<std::pair<int64_t, int64_t>>{{256, 512}}));
  EXPECT_FALSE(find(r1, "h.0.attn_norm.weight").slice.split());
}

TEST(ShardPlan, SameNamesAndOrderOnEveryRank) {
  const auto cfg = tiny_llama();
  const auto full = plan_params(cfg);
  for (int tp : {2, 4}) {
    for (int r = 0; r < tp; ++r) {
      const auto local = plan_params(cfg, tp, r);
      ASSERT_EQ(local.size(), full.size());
      int64_t offset = 0;
      for (size_t i = 0; i < full.size(); ++i) {
        EXPECT_EQ(local[i].name, full[i].name);
        EXPECT_EQ(local[i].full_shape, full[i].shape);
        EXPECT_EQ(local[i].offset, offset) << local[i].name;
        offset += local[i].shape.numel();
        EXPECT_EQ(local[i].shape.numel() * (local[i].slice.split() ? tp : 1), full[i].shape.numel()) << local[i].name;
      }
    }
  }
}

TEST(ShardPlan, ExtractThenInsertOverAllRanksRebuildsEveryTensor) {
  const auto cfg = tiny_llama();
  const auto full = plan_params(cfg);
  const int tp = 4;
  for (size_t i = 0; i < full.size(); ++i) {
    std::vector<float> src(static_cast<size_t>(full[i].shape.numel()));   // (full_shape)
    for (size_t k = 0; k < src.size(); ++k) src[k] = static_cast<float>(k) + 0.5f;
    std::vector<float> rebuilt(src.size(), -1.0f), count(src.size(), 0.0f);
    for (int r = 0; r < tp; ++r) {
      const ParamInfo info = plan_params(cfg, tp, r)[i];
      if (!info.slice.split() && r > 0) continue;
      std::vector<float> local(static_cast<size_t>(info.shape.numel()), -2.0f);
      shard_extract(local, src, info);
      shard_insert(rebuilt, local, info);
      std::vector<float> ones(local.size(), 1.0f), mark(src.size(), 0.0f);
      shard_insert(mark, ones, info);
      for (size_t k = 0; k < src.size(); ++k) count[k] += mark[k];
    }
    EXPECT_EQ(rebuilt, src) << full[i].name;
    for (size_t k = 0; k < src.size(); ++k) ASSERT_EQ(count[k], 1.0f) << full[i].name << " element " << k;
  }
}

TEST(ShardPlan, IndivisibleLayoutNamesTheNumbers) {
  auto cfg = tiny_llama();
  try {
    plan_params(cfg, 8, 0);   // 4 KV heads
    FAIL() << "expected a usage error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("KV heads 4"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace primus::models
