// Dataset file tests: Megatron .bin/.idx byte-identical to an independent writer of the published
// layout (tests/data/megatron_layout.py), llm.c shards, and a clear error naming the file for each
// kind of damage.
#include "data/indexed_dataset.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/rng.h"
#include "test_util.h"

namespace primus::data {
namespace {

std::vector<std::vector<int32_t>> random_docs(uint64_t seed, int n, int32_t vocab) {
  Rng rng(seed);
  std::vector<std::vector<int32_t>> docs(static_cast<size_t>(n));
  for (auto& d : docs) {
    d.resize(1 + rng.below(50));
    for (auto& t : d) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
  }
  return docs;
}

void write_megatron(const std::string& prefix, const std::vector<std::vector<int32_t>>& docs, int64_t vocab) {
  IndexedDatasetWriter w(prefix, megatron_dtype_for_vocab(vocab));
  for (const auto& d : docs) w.add_document(d);
  w.finish();
}

template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(IndexedDataset, WritesAndReadsBack) {
  auto dir = test::temp_dir("rw");
  for (int64_t vocab : {50257, 128256}) {
    auto docs = random_docs(static_cast<uint64_t>(vocab), 37, static_cast<int32_t>(vocab));
    auto prefix = (dir / ("ds" + std::to_string(vocab))).string();
    write_megatron(prefix, docs, vocab);
    IndexedDataset ds(prefix);
    EXPECT_EQ(ds.dtype(), vocab < 65500 ? TokenDType::kUInt16 : TokenDType::kInt32);
    ASSERT_EQ(ds.num_documents(), 37);
    for (size_t i = 0; i < docs.size(); ++i) {
      std::vector<int32_t> got(docs[i].size(), -7);
      ds.read(static_cast<int64_t>(i), 0, static_cast<int64_t>(got.size()), got.data());
      EXPECT_EQ(got, docs[i]);
    }
    EXPECT_FALSE(std::filesystem::exists(prefix + ".bin.tmp"));
  }
}

TEST(IndexedDataset, ByteIdenticalToThePublishedLayout) {
  std::string out;
  if (test::run("python3 -c 'import struct, json'", &out) != 0) GTEST_SKIP() << "python3 not available";
  auto dir = test::temp_dir("layout");
  for (int64_t vocab : {1000, 100000}) {
    auto docs = random_docs(7 + static_cast<uint64_t>(vocab), 25, static_cast<int32_t>(vocab));
    test::write_bytes(dir / "tokens.json", nlohmann::json(docs).dump());
    auto ours = (dir / "ours").string(), theirs = (dir / "theirs").string();
    write_megatron(ours, docs, vocab);
    std::string script = std::string(PRIMUS_SOURCE_DIR) + "/tests/data/megatron_layout.py";
    ASSERT_EQ(test::run("python3 " + script + " write " + (dir / "tokens.json").string() + " " + theirs + " " +
                        std::to_string(vocab), &out), 0) << out;
    EXPECT_EQ(test::read_bytes(ours + ".idx"), test::read_bytes(theirs + ".idx")) << vocab;
    EXPECT_EQ(test::read_bytes(ours + ".bin"), test::read_bytes(theirs + ".bin")) << vocab;
    ASSERT_EQ(test::run("python3 " + script + " read " + ours, &out), 0) << out;
    auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["docs"].get<std::vector<std::vector<int32_t>>>(), docs);
    EXPECT_EQ(j["dtype_code"].get<int>(), vocab < 65500 ? 8 : 4);
  }
}

TEST(IndexedDataset, DamageIsReportedNamingTheFile) {
  auto dir = test::temp_dir("damage");
  auto prefix = (dir / "ds").string();
  auto docs = random_docs(3, 10, 500);
  write_megatron(prefix, docs, 500);
  const std::string bin = test::read_bytes(prefix + ".bin"), idx = test::read_bytes(prefix + ".idx");
  auto reopen = [&] { return error_of([&] { IndexedDataset ds(prefix); }); };

  test::write_bytes(prefix + ".bin", bin.substr(0, bin.size() - 3));   // truncated .bin
  auto e = reopen();
  EXPECT_NE(e.find("ds.bin"), std::string::npos) << e;
  EXPECT_NE(e.find("describes"), std::string::npos) << e;

  test::write_bytes(prefix + ".bin", bin + bin);   // an .idx that does not match its .bin
  e = reopen();
  EXPECT_NE(e.find("ds.bin"), std::string::npos) << e;

  test::write_bytes(prefix + ".bin", bin);
  std::string bad = idx;
  bad[0] = 'X';
  test::write_bytes(prefix + ".idx", bad);
  e = reopen();
  EXPECT_NE(e.find("ds.idx"), std::string::npos) << e;
  EXPECT_NE(e.find("magic"), std::string::npos) << e;

  bad = idx;
  bad[9] = 2;   // version 2
  test::write_bytes(prefix + ".idx", bad);
  e = reopen();
  EXPECT_NE(e.find("ds.idx"), std::string::npos) << e;
  EXPECT_NE(e.find("version 2"), std::string::npos) << e;

  test::write_bytes(prefix + ".idx", idx.substr(0, idx.size() - 8));   // truncated .idx
  e = reopen();
  EXPECT_NE(e.find("ds.idx"), std::string::npos) << e;

  std::filesystem::remove(prefix + ".bin");
  e = reopen();
  EXPECT_NE(e.find("ds.bin"), std::string::npos) << e;

  test::write_bytes(prefix + ".bin", bin);
  test::write_bytes(prefix + ".idx", idx);
  EXPECT_EQ(reopen(), "(no error)");
}

TEST(IndexedDataset, WriterLeavesNothingBehindOnError) {
  auto dir = test::temp_dir("abort");
  auto prefix = (dir / "ds").string();
  {
    IndexedDatasetWriter w(prefix, TokenDType::kUInt16);
    std::vector<int32_t> ok{1, 2, 3}, too_big{70000};
    w.add_document(ok);
    EXPECT_THROW(w.add_document(too_big), Error);
  }
  {
    IndexedDatasetWriter empty(prefix, TokenDType::kUInt16);
    auto e = error_of([&] { empty.finish(); });
    EXPECT_NE(e.find("empty"), std::string::npos) << e;
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

TEST(LlmcShard, HeaderAndTokens) {
  auto dir = test::temp_dir("llmc");
  for (auto dtype : {TokenDType::kUInt16, TokenDType::kUInt32}) {
    auto path = (dir / "shard.bin").string();
    std::vector<int32_t> toks{5, 0, 65535, 17};
    if (dtype == TokenDType::kUInt32) toks.push_back(128000);
    {
      LlmcShardWriter w(path, dtype);
      w.add_tokens(toks);
      w.finish();
    }
    std::string raw = test::read_bytes(path);
    int32_t header[3];
    std::memcpy(header, raw.data(), sizeof(header));
    EXPECT_EQ(header[0], dtype == TokenDType::kUInt16 ? 20240520 : 20240801);
    EXPECT_EQ(header[1], dtype == TokenDType::kUInt16 ? 1 : 7);
    EXPECT_EQ(header[2], static_cast<int32_t>(toks.size()));
    EXPECT_EQ(raw.size(), 1024 + toks.size() * (dtype == TokenDType::kUInt16 ? 2 : 4));
    LlmcShard sh(path);
    std::vector<int32_t> got(toks.size(), -1);
    sh.read(0, static_cast<int64_t>(got.size()), got.data());
    EXPECT_EQ(got, toks);
    test::write_bytes(path, raw.substr(0, raw.size() - 2));
    auto e = error_of([&] { LlmcShard bad(path); });
    EXPECT_NE(e.find("shard.bin"), std::string::npos) << e;
    EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace primus::data
