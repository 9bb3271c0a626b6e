// The schema table: docs/configuration.md carries it verbatim, suggestions find misspelt keys,
// defaults are in range, and the parallel-size arithmetic validates layouts.
#include <gtest/gtest.h>

#include "config/loader.h"
#include "config/schema.h"
#include "config_test_util.h"

namespace primus::config {
namespace {

TEST(ConfigSchema, DocsCarryTheGeneratedTableAndEveryKey) {
  std::string docs = testing::read_text(testing::source_path("docs/configuration.md"));
  ASSERT_FALSE(docs.empty());
  EXPECT_NE(docs.find(render_schema_markdown()), std::string::npos)
      << "docs/configuration.md is out of date: paste the output of `primus config schema` into it";
  for (const Field& f : schema_fields())
    EXPECT_NE(docs.find("`" + std::string(f.key) + "`"), std::string::npos) << f.key;
}

TEST(ConfigSchema, EveryFieldHasDocumentationAndAUniqueKey) {
  std::set<std::string_view> seen;
  for (const Field& f : schema_fields()) {
    EXPECT_FALSE(f.doc.empty()) << f.key;
    EXPECT_TRUE(seen.insert(f.key).second) << "duplicate " << f.key;
    EXPECT_FALSE(is_section(f.key)) << f.key;
    EXPECT_EQ(find_field(f.key), &f);
  }
  EXPECT_TRUE(is_section("model"));
  EXPECT_TRUE(is_section("model.rope_scaling"));
  EXPECT_FALSE(is_section("model.arch"));
}

TEST(ConfigSchema, AccessorsPointIntoTheirOwnConfig) {
  ExperimentConfig a, b;
  for (const Field& f : schema_fields()) {
    auto* pa = static_cast<char*>(f.access(a));
    EXPECT_GE(pa, reinterpret_cast<char*>(&a)) << f.key;
    EXPECT_LT(pa, reinterpret_cast<char*>(&a + 1)) << f.key;
    EXPECT_EQ(pa - reinterpret_cast<char*>(&a), static_cast<char*>(f.access(b)) - reinterpret_cast<char*>(&b));
  }
  EXPECT_EQ(find_field("train.steps")->access(a), &a.train.steps);
  EXPECT_EQ(find_field("model.rope_scaling.factor")->access(a), &a.model.rope_scaling.factor);
}

TEST(ConfigSchema, SuggestsTheClosestKey) {
  EXPECT_EQ(suggest_key("train.stpes"), "train.steps");
  EXPECT_EQ(suggest_key("optim.learning_rat"), "");
  EXPECT_EQ(suggest_key("train.lr"), "optim.lr");
  EXPECT_EQ(suggest_key("modle"), "model");
  EXPECT_EQ(suggest_key("model.rope_scaling.factr"), "model.rope_scaling.factor");
  EXPECT_EQ(suggest_key("completely.unrelated.thing"), "");
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
}

TEST(ConfigSchema, DefaultsAreValidOnceDataIsGiven) {
  ExperimentConfig cfg;
  std::vector<std::string> problems;
  collect_problems(cfg, {}, problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("data.train: no training data"), std::string::npos) << problems[0];
  cfg.data.mock = true;
  EXPECT_NO_THROW(validate_experiment(cfg));
  cfg.model.num_attention_heads = 7;
  try {
    validate_experiment(cfg);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("default: model.hidden_size: 768 is not divisible"), std::string::npos) << e.what();
  }
}

TEST(ConfigSchema, DataParallelSizeFromTheWorld) {
  ExperimentConfig cfg;
  cfg.parallel.tensor = 2;
  cfg.train.micro_batch_size = 2;
  cfg.train.global_batch_size = 16;
  EXPECT_EQ(data_parallel_size(cfg, 8), 4);
  EXPECT_EQ(gradient_accumulation_steps(cfg, 8), 2);
  EXPECT_EQ(data_parallel_size(cfg, 2), 1);
  EXPECT_EQ(gradient_accumulation_steps(cfg, 2), 8);
  EXPECT_THROW(data_parallel_size(cfg, 3), Error);  // 3 is not a multiple of tensor = 2
  cfg.train.global_batch_size = 12;                 // 12 % (2 * 4) != 0
  try {
    data_parallel_size(cfg, 8);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("train.global_batch_size = 12 is not a multiple"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace primus::config
