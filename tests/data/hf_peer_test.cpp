// Tokenizer parity with Hugging Face `tokenizers` (the peer, from the test virtual environment):
// tokenizers trained by HF and by Primus, each loaded by both, encode the same samples, including
// non-ASCII text and invalid UTF-8, to identical ids. tests/data/hf_peer.py explains how invalid
// bytes reach HF. Skips when .venv or its `tokenizers` package is missing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/rng.h"
#include "data/bpe_trainer.h"
#include "data/documents.h"
#include "data/file_util.h"
#include "data/tokenizer.h"
#include "test_util.h"

namespace primus::data {
namespace {

std::vector<std::pair<std::string, std::string>> samples(const std::string& corpus) {
  std::vector<std::pair<std::string, std::string>> s = {
      {"corpus_head", corpus.substr(0, 4000)},
      {"special_tokens", "first document<|endoftext|>second<|endoftext|><|endoftext|> third"},
      {"latin1_bytes", "caf\xe9 cr\xe8me br\xfbl\xe9e, na\xefve"},
      {"invalid_mix", "ok \xff\xfe\x01 abc\xe2\x82 def \xed\xa0\x80 sur \x80\x80 x \xc0\xaf \xf0\x9f\x8e end"},
      {"invalid_edges", "\x80leading and trailing\xc3"},
      {"spaces", "a\u00a0b\u3000c\u2028d\u0085e \u0085f\u200bg\u180eh\u2009\u2009i\r\n\r\n  \t e   \n\x0b\x0c"},
      {"emoji_cjk", "東京 🎉🎉 ✨ 한국어 Ωμέγα ٣٤٥ ½²"},
      {"code", "for (int i = 0; i < n; ++i) {\n\tx[i] += 1e-9;  // it's\n}\n"},
      {"empty", ""},
  };
  Rng rng(99);
  std::string random;
  for (int i = 0; i < 3000; ++i) random.push_back(static_cast<char>(rng.below(256)));
  s.emplace_back("random_bytes", random);
  std::string long_words;   // pieces past 256 bytes take Primus's heap merge path
  for (int i = 0; i < 30; ++i) long_words += "theheavenandtheearth";
  long_words += " ";
  for (int i = 0; i < 700; ++i) long_words.push_back(static_cast<char>('a' + rng.below(26)));
  long_words += " " + std::string(600, '!') + std::string(500, ' ') + "end";
  s.emplace_back("long_words", long_words);
  return s;
}

TEST(HfPeer, IdsMatchHuggingFaceTokenizers) {
  const std::string py = test::venv_python();
  if (py.empty()) GTEST_SKIP() << "no .venv (run PRIMUS_TEST_PEERS=1 scripts/setup.sh)";
  std::string out;
  if (test::run(py + " -c 'import tokenizers'", &out) != 0) GTEST_SKIP() << "tokenizers not installed in .venv";
  auto dir = test::temp_dir("peer");
  const std::string corpus = read_file(test::fixture("corpus.txt"));
  test::write_bytes(dir / "corpus.txt", corpus);
  std::filesystem::create_directories(dir / "samples");
  for (auto& [name, bytes] : samples(corpus)) test::write_bytes(dir / "samples" / (name + ".bin"), bytes);
  for (const char* pattern : {"gpt2", "llama3"}) {
    BpeTrainer trainer({.vocab_size = 700, .special_tokens = {"<|endoftext|>"}, .pattern = pattern, .min_frequency = 2});
    auto docs = split_documents(corpus, false, DocBoundary::kBlankLine);
    trainer.count(docs);
    trainer.train().save((dir / (std::string("primus_") + pattern + ".json")).string());
  }
  const std::string script = std::string(PRIMUS_SOURCE_DIR) + "/tests/data/hf_peer.py";
  ASSERT_EQ(test::run(py + " " + script + " " + dir.string(), &out), 0) << out;
  auto ids = nlohmann::json::parse(read_file((dir / "ids.json").string()));
  ASSERT_EQ(ids.size(), 5u) << "expected hf_gpt2, hf_llama3, hf_llama3_ignore_merges, primus_gpt2, primus_llama3";
  int compared = 0;
  for (auto& [tok_file, per_sample] : ids.items()) {
    Tokenizer tok = Tokenizer::load((dir / tok_file).string());
    for (auto& [sample, expected] : per_sample.items()) {
      std::string bytes = read_file((dir / "samples" / sample).string());
      auto got = tok.encode(bytes);
      EXPECT_EQ(got, expected.get<std::vector<int32_t>>()) << tok_file << " on " << sample;
      EXPECT_EQ(tok.decode(got), bytes) << tok_file << " on " << sample;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 5 * 11);
  EXPECT_TRUE(Tokenizer::load((dir / "hf_llama3_ignore_merges.json").string()).adds_bos());
  EXPECT_FALSE(Tokenizer::load((dir / "hf_gpt2.json").string()).adds_bos());
}

}  // namespace
}  // namespace primus::data
