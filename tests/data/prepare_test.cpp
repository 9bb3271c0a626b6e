// Preparation tests: documents and EOS placement in both formats, identical output for any number
// of workers, split dealing, JSONL input, and errors that leave nothing half-written; plus the
// `primus data` commands end to end.
#include "data/prepare.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "data/bpe_trainer.h"
#include "data/file_util.h"
#include "data/indexed_dataset.h"
#include "data/tokenizer.h"
#include "test_util.h"

namespace primus::data {
namespace {

struct Corpus {
  std::filesystem::path dir;
  std::string tokenizer;
  std::vector<std::string> blocks;   // the documents, in file order
};

Corpus make_corpus(const std::string& name) {
  Corpus c{test::temp_dir(name), {}, {}};
  const std::string text = read_file(test::fixture("corpus.txt"));
  auto docs = split_documents(text, false, DocBoundary::kBlankLine);
  BpeTrainer t({.vocab_size = 400, .special_tokens = {"<|endoftext|>"}});
  t.count(docs);
  c.tokenizer = (c.dir / "tok.json").string();
  t.train().save(c.tokenizer);
  std::filesystem::create_directories(c.dir / "in");
  for (int f = 0; f < 3; ++f) {   // three files of blank-line separated blocks
    std::string content;
    for (size_t i = static_cast<size_t>(f); i < 60; i += 3) {
      content += std::string(docs[i]) + "\n";
      c.blocks.emplace_back(docs[i]);
    }
    test::write_bytes(c.dir / "in" / ("part" + std::to_string(f) + ".txt"), content);
  }
  return c;
}

PrepareOptions options(const Corpus& c, const std::string& out) {
  PrepareOptions o;
  o.inputs = {(c.dir / "in" / "*.txt").string()};
  o.tokenizer = c.tokenizer;
  o.output = (c.dir / out).string();
  o.input.boundary = DocBoundary::kBlankLine;
  return o;
}

TEST(Prepare, MegatronDocumentsEndWithEos) {
  auto c = make_corpus("megatron");
  auto s = prepare_dataset(options(c, "ds"));
  EXPECT_EQ(s.documents, 60);
  Tokenizer tok = Tokenizer::load(c.tokenizer);
  IndexedDataset ds((c.dir / "ds").string());
  ASSERT_EQ(ds.num_documents(), 60);
  EXPECT_EQ(ds.num_tokens(), s.tokens);
  for (int64_t d = 0; d < 60; ++d) {
    std::vector<int32_t> ids(static_cast<size_t>(ds.sequence_length(d)));
    ds.read(d, 0, static_cast<int64_t>(ids.size()), ids.data());
    ASSERT_EQ(ids.back(), tok.eos_id());
    ids.pop_back();
    EXPECT_EQ(tok.decode(ids), c.blocks[static_cast<size_t>(d)]) << d;
  }
}

TEST(Prepare, WorkersDoNotChangeTheOutput) {
  auto c = make_corpus("workers");
  auto one = options(c, "one"), two = options(c, "two");
  one.workers = 1;
  two.workers = 3;
  prepare_dataset(one);
  prepare_dataset(two);
  for (const char* ext : {".bin", ".idx"})
    EXPECT_EQ(test::read_bytes(one.output + ext), test::read_bytes(two.output + ext)) << ext;
}

TEST(Prepare, LlmcShardStartsDocumentsWithEos) {
  auto c = make_corpus("llmc");
  auto o = options(c, "shard");
  o.format = "llmc";
  auto s = prepare_dataset(o);
  LlmcShard sh(o.output + ".bin");
  EXPECT_EQ(sh.num_tokens(), s.tokens);
  std::vector<int32_t> ids(static_cast<size_t>(sh.num_tokens()));
  sh.read(0, sh.num_tokens(), ids.data());
  Tokenizer tok = Tokenizer::load(c.tokenizer);
  EXPECT_EQ(ids[0], tok.eos_id());
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tok.eos_id()), 60);
}

TEST(Prepare, SplitDealsDocumentsByFraction) {
  auto c = make_corpus("split");
  auto o = options(c, "kjv");
  o.split = "80,10,10";
  auto s = prepare_dataset(o);
  ASSERT_EQ(s.outputs.size(), 3u);
  int64_t total = 0;
  for (const char* name : {"train", "valid", "test"}) total += IndexedDataset((c.dir / "kjv" / name).string()).num_documents();
  EXPECT_EQ(total, 60);
  EXPECT_NEAR(IndexedDataset((c.dir / "kjv" / "train").string()).num_documents(), 48, 2);
  EXPECT_NEAR(IndexedDataset((c.dir / "kjv" / "valid").string()).num_documents(), 6, 2);
}

TEST(Prepare, ReadsJsonl) {
  auto c = make_corpus("jsonl");
  test::write_bytes(c.dir / "docs.jsonl", "{\"body\": \"first doc\"}\n\n{\"body\": \"second \\u00e9\", \"x\": 1}\n");
  auto o = options(c, "j");
  o.inputs = {(c.dir / "docs.jsonl").string()};
  o.input.jsonl_key = "body";
  prepare_dataset(o);
  IndexedDataset ds(o.output);
  ASSERT_EQ(ds.num_documents(), 2);
  Tokenizer tok = Tokenizer::load(c.tokenizer);
  std::vector<int32_t> ids(static_cast<size_t>(ds.sequence_length(1)));
  ds.read(1, 0, static_cast<int64_t>(ids.size()), ids.data());
  EXPECT_EQ(tok.decode(ids), "second \xc3\xa9<|endoftext|>");
  o.input.jsonl_key = "missing";
  o.output = (c.dir / "k").string();
  try {
    prepare_dataset(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("docs.jsonl"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(c.dir / "k.bin.tmp"));
  EXPECT_FALSE(std::filesystem::exists(c.dir / "k.bin"));
}

TEST(Prepare, EmptyInputIsAnErrorAndLeavesNothing) {
  auto c = make_corpus("empty");
  test::write_bytes(c.dir / "empty.txt", "\n\n   \n");
  auto o = options(c, "out/ds");
  o.inputs = {(c.dir / "empty.txt").string()};
  try {
    prepare_dataset(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no documents"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_empty(c.dir / "out"));
  o.inputs = {(c.dir / "nothing*.txt").string()};
  EXPECT_THROW(prepare_dataset(o), Error);
}

TEST(DataCommand, PrepareInspectAndErrors) {
  auto c = make_corpus("cli");
  const std::string exe = PRIMUS_EXE, prefix = (c.dir / "ds").string();
  std::string out;
  ASSERT_EQ(test::run(exe + " data prepare --input '" + (c.dir / "in").string() + "' --tokenizer " + c.tokenizer +
                      " --output " + prefix + " --doc-boundary blank-line --workers 2", &out), 0) << out;
  EXPECT_NE(out.find("prepared 60 documents"), std::string::npos) << out;
  ASSERT_EQ(test::run(exe + " data inspect " + prefix + " --tokenizer " + c.tokenizer, &out), 0) << out;
  EXPECT_NE(out.find("documents: 60"), std::string::npos) << out;
  EXPECT_NE(out.find("verified: ok"), std::string::npos) << out;
  EXPECT_NE(test::run(exe + " data inspect " + prefix + " --vocab-size 100", &out), 0);
  EXPECT_NE(out.find("ds.bin"), std::string::npos) << out;
  std::string bin = test::read_bytes(prefix + ".bin");
  test::write_bytes(prefix + ".bin", bin.substr(0, bin.size() / 2));
  EXPECT_EQ(test::run(exe + " data inspect " + prefix, &out), 1);
  EXPECT_NE(out.find("error:"), std::string::npos) << out;
  EXPECT_NE(out.find("truncated"), std::string::npos) << out;
  test::write_bytes(c.dir / "empty.txt", "");
  EXPECT_EQ(test::run(exe + " data prepare --input " + (c.dir / "empty.txt").string() + " --tokenizer " + c.tokenizer +
                      " --output " + (c.dir / "e").string(), &out), 1) << out;
  EXPECT_FALSE(std::filesystem::exists(c.dir / "e.bin"));
  EXPECT_FALSE(std::filesystem::exists(c.dir / "e.bin.tmp"));
  ASSERT_EQ(test::run(exe + " data train-tokenizer --input " + test::fixture("corpus.txt") + " --vocab-size 300 --output " +
                      (c.dir / "t.json").string(), &out), 0) << out;
  EXPECT_EQ(Tokenizer::load((c.dir / "t.json").string()).vocab_size(), 300);
}

}  // namespace
}  // namespace primus::data
