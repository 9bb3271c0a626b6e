// Loader tests: targets are inputs shifted by one and come from the data; ranks see disjoint
// samples that together cover a step; blends follow their weights within 1%; a restored loader
// continues with the exact next batch; splits are disjoint; bad data is reported naming the file.
#include "data/loader.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.h"
#include "data/indexed_dataset.h"
#include "test_util.h"

namespace primus::data {
namespace {

// Documents whose tokens encode (source, document, position) so any sample can be traced back.
std::string make_dataset(const std::filesystem::path& dir, const std::string& name, int source, int docs,
                         int32_t max_token = INT32_MAX) {
  auto prefix = (dir / name).string();
  IndexedDatasetWriter w(prefix, TokenDType::kInt32);
  for (int d = 0; d < docs; ++d) {
    std::vector<int32_t> doc(static_cast<size_t>(20 + (d * 7) % 31));
    for (size_t i = 0; i < doc.size(); ++i) doc[i] = std::min<int32_t>(max_token, source * 100000 + d * 100 + static_cast<int32_t>(i));
    w.add_document(doc);
  }
  w.finish();
  return prefix;
}

config::DataConfig data_of(std::vector<std::pair<double, std::string>> sources) {
  config::DataConfig c;
  for (auto& [w, p] : sources) c.train.push_back({w, p});
  return c;
}

std::vector<int32_t> batch(TokenLoader& l, int64_t B, int64_t T, std::vector<int32_t>* targets = nullptr) {
  std::vector<int32_t> x(static_cast<size_t>(B * T), -1), y(static_cast<size_t>(B * T), -1);   // (B,T) poisoned
  l.next(x.data(), y.data());
  if (targets) *targets = y;
  return x;
}

TEST(Loader, TargetsAreInputsShiftedByOne) {
  auto dir = test::temp_dir("shift");
  auto cfg = data_of({{1.0, make_dataset(dir, "a", 0, 50)}});
  const int64_t B = 3, T = 16;
  auto l = make_loader(cfg, Split::kTrain, B, T, 0, 1, 1234, 1 << 20);
  for (int step = 0; step < 5; ++step) {
    std::vector<int32_t> y;
    auto x = batch(*l, B, T, &y);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = 0; t + 1 < T; ++t) EXPECT_EQ(y[static_cast<size_t>(b * T + t)], x[static_cast<size_t>(b * T + t + 1)]);
      for (int64_t t = 0; t < T; ++t) EXPECT_GE(x[static_cast<size_t>(b * T + t)], 0);
    }
  }
}

TEST(Loader, RanksSeeDisjointSamplesCoveringTheStep) {
  auto dir = test::temp_dir("dp");
  auto cfg = data_of({{1.0, make_dataset(dir, "a", 0, 200)}});
  const int64_t B = 2, T = 8;
  const int dp = 4;
  std::vector<std::unique_ptr<TokenLoader>> ranks;
  for (int r = 0; r < dp; ++r) ranks.push_back(make_loader(cfg, Split::kTrain, B, T, r, dp, 7, 1 << 20));
  auto single = make_loader(cfg, Split::kTrain, B * dp, T, 0, 1, 7, 1 << 20);
  std::set<std::vector<int32_t>> seen;
  for (int step = 0; step < 10; ++step) {
    std::vector<int32_t> joined;
    for (auto& l : ranks) {
      auto x = batch(*l, B, T);
      for (int64_t b = 0; b < B; ++b) {
        std::vector<int32_t> row(x.begin() + b * T, x.begin() + (b + 1) * T);
        EXPECT_TRUE(seen.insert(row).second) << "a sample was dealt twice";
      }
      joined.insert(joined.end(), x.begin(), x.end());
    }
    // The ranks together read exactly what one rank with the whole batch reads.
    EXPECT_EQ(joined, batch(*single, B * dp, T));
  }
}

TEST(Loader, BlendFollowsWeightsWithinOnePercent) {
  auto dir = test::temp_dir("blend");
  auto cfg = data_of({{0.7, make_dataset(dir, "a", 1, 80)}, {0.2, make_dataset(dir, "b", 2, 30)},
                      {0.1, make_dataset(dir, "c", 3, 40)}});
  const int64_t B = 8, T = 4;
  auto l = make_loader(cfg, Split::kTrain, B, T, 0, 1, 3, 0);
  std::map<int, int> count;
  const int steps = 500;
  for (int s = 0; s < steps; ++s) {
    auto x = batch(*l, B, T);
    for (int64_t b = 0; b < B; ++b) ++count[x[static_cast<size_t>(b * T)] / 100000];
  }
  const double n = steps * B;
  EXPECT_NEAR(count[1] / n, 0.7, 0.01);
  EXPECT_NEAR(count[2] / n, 0.2, 0.01);
  EXPECT_NEAR(count[3] / n, 0.1, 0.01);
}

TEST(Loader, RestoredLoaderContinuesWithTheExactNextBatch) {
  auto dir = test::temp_dir("resume");
  auto cfg = data_of({{0.5, make_dataset(dir, "a", 1, 40)}, {0.5, make_dataset(dir, "b", 2, 25)}});
  const int64_t B = 4, T = 32;
  for (int rank : {0, 1}) {
    auto l = make_loader(cfg, Split::kTrain, B, T, rank, 2, 11, 1 << 20);
    for (int s = 0; s < 37; ++s) batch(*l, B, T);   // past the first epoch of the smaller source
    auto state = l->state();
    auto expected = batch(*l, B, T);
    auto fresh = make_loader(cfg, Split::kTrain, B, T, rank, 2, 11, 1 << 20);
    fresh->restore(nlohmann::json::parse(state.dump()));
    EXPECT_EQ(batch(*fresh, B, T), expected);
    fresh->rewind();
    auto first = make_loader(cfg, Split::kTrain, B, T, rank, 2, 11, 1 << 20);
    EXPECT_EQ(batch(*fresh, B, T), batch(*first, B, T));
    auto other_seed = make_loader(cfg, Split::kTrain, B, T, rank, 2, 12, 1 << 20);
    EXPECT_THROW(other_seed->restore(state), Error);
  }
}

TEST(Loader, EpochsReshuffle) {
  auto dir = test::temp_dir("epoch");
  auto cfg = data_of({{1.0, make_dataset(dir, "a", 0, 10)}});
  const int64_t T = 16;
  auto l = make_loader(cfg, Split::kTrain, 1, T, 0, 1, 5, 0);
  int64_t tokens = 0;
  for (int d = 0; d < 10; ++d) tokens += 20 + (d * 7) % 31;
  const int64_t per_epoch = (tokens - 1) / T;
  std::vector<std::vector<int32_t>> e0, e1;
  for (int64_t i = 0; i < per_epoch; ++i) e0.push_back(batch(*l, 1, T));
  for (int64_t i = 0; i < per_epoch; ++i) e1.push_back(batch(*l, 1, T));
  EXPECT_NE(e0, e1);
}

TEST(Loader, SplitsAreDisjointByDocument) {
  auto dir = test::temp_dir("split");
  auto cfg = data_of({{1.0, make_dataset(dir, "a", 0, 100)}});
  cfg.split = "80,10,10";
  std::map<Split, std::set<int>> docs;
  for (Split s : {Split::kTrain, Split::kValid, Split::kTest}) {
    auto l = make_loader(cfg, s, 2, 8, 0, 1, 1, 0);
    for (int i = 0; i < 50; ++i)
      for (int32_t t : batch(*l, 2, 8)) docs[s].insert(t / 100);
  }
  for (int d : docs[Split::kValid]) EXPECT_EQ(docs[Split::kTrain].count(d), 0u);
  for (int d : docs[Split::kTest]) EXPECT_EQ(docs[Split::kTrain].count(d) + docs[Split::kValid].count(d), 0u);
  EXPECT_GE(*docs[Split::kValid].begin(), 80);
  EXPECT_GE(*docs[Split::kTest].begin(), 90);
}

TEST(Loader, TokenOutsideTheVocabularyNamesTheFile) {
  auto dir = test::temp_dir("vocab");
  auto cfg = data_of({{1.0, make_dataset(dir, "big", 0, 20)}});
  auto l = make_loader(cfg, Split::kTrain, 2, 8, 0, 1, 1, 50);
  try {
    for (int i = 0; i < 10; ++i) batch(*l, 2, 8);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("big.bin"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("vocabulary"), std::string::npos) << e.what();
  }
}

TEST(Loader, BadConfigurationsAreUsageErrors) {
  auto dir = test::temp_dir("bad");
  auto cfg = data_of({{1.0, (dir / "missing").string()}});
  try {
    make_loader(cfg, Split::kTrain, 2, 8, 0, 1, 1, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos);
  }
  auto ok = data_of({{1.0, make_dataset(dir, "a", 0, 5)}});
  EXPECT_THROW(make_loader(ok, Split::kTrain, 2, 8, 2, 2, 1, 0), Error);
  EXPECT_THROW(make_loader(ok, Split::kTrain, 0, 8, 0, 1, 1, 0), Error);
  ok.split = "98,x,1";
  EXPECT_THROW(make_loader(ok, Split::kTrain, 2, 8, 0, 1, 1, 0), Error);
  ok.split = "98,1,1";   // 5 documents: the valid split is empty
  try {
    make_loader(ok, Split::kValid, 2, 8, 0, 1, 1, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("valid split"), std::string::npos) << e.what();
  }
}

TEST(Loader, MockGivesTokensBelowTheVocabularyAndResumes) {
  config::DataConfig cfg;
  cfg.mock = true;
  auto l = make_loader(cfg, Split::kTrain, 4, 64, 0, 1, 9, 300);
  std::vector<int32_t> y;
  auto x = batch(*l, 4, 64, &y);
  std::set<int32_t> distinct(x.begin(), x.end());
  EXPECT_GT(distinct.size(), 100u);
  for (int32_t t : x) EXPECT_TRUE(t >= 0 && t < 300);
  EXPECT_EQ(y[0], x[1]);
  auto state = l->state();
  auto next = batch(*l, 4, 64);
  auto other = make_loader(cfg, Split::kTrain, 4, 64, 0, 1, 9, 300);
  other->restore(state);
  EXPECT_EQ(batch(*other, 4, 64), next);
  auto rank1 = make_loader(cfg, Split::kTrain, 4, 64, 1, 2, 9, 300);
  EXPECT_NE(batch(*rank1, 4, 64), x);
}

TEST(Loader, ReadsLlmcShards) {
  auto dir = test::temp_dir("llmc");
  std::vector<int32_t> toks(20000);
  for (size_t i = 0; i < toks.size(); ++i) toks[i] = static_cast<int32_t>(i % 50000);
  for (const char* name : {"s_000.bin", "s_001.bin"}) {
    LlmcShardWriter w((dir / name).string(), TokenDType::kUInt16);
    w.add_tokens(toks);
    w.finish();
  }
  auto cfg = data_of({{1.0, (dir / "s_*.bin").string()}});
  auto l = make_loader(cfg, Split::kTrain, 2, 64, 0, 1, 3, 50257);
  std::vector<int32_t> y;
  auto x = batch(*l, 2, 64, &y);
  for (int64_t t = 0; t + 1 < 64; ++t) EXPECT_EQ(x[static_cast<size_t>(t + 1)], y[static_cast<size_t>(t)]);
}

}  // namespace
}  // namespace primus::data
