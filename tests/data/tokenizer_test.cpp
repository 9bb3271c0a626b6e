// Tokenizer unit tests: the byte-level alphabet, UTF-8 scanning, the split patterns, lossless
// encoding of arbitrary bytes, BPE merges, special tokens, file round trips and errors.
#include "data/tokenizer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "data/bpe_trainer.h"
#include "data/byte_level.h"
#include "data/file_util.h"
#include "data/pretokenizer.h"
#include "test_util.h"

namespace primus::data {
namespace {

std::vector<std::string> pieces(const char* pattern, std::string_view text) {
  PreTokenizer p(pattern);
  std::vector<std::string_view> out;
  p.split(text, out);
  return {out.begin(), out.end()};
}

Tokenizer trained(const std::string& pattern, int64_t vocab = 600) {
  BpeTrainer t({.vocab_size = vocab, .special_tokens = {"<|endoftext|>"}, .pattern = pattern, .min_frequency = 2});
  std::string corpus = read_file(test::fixture("corpus.txt"));
  std::vector<std::string_view> docs{corpus};
  t.count(docs);
  return t.train();
}

TEST(ByteLevel, AlphabetIsABijectionOverBytes) {
  std::set<uint32_t> seen;
  for (int b = 0; b < 256; ++b) {
    uint32_t cp = byte_to_codepoint()[b];
    EXPECT_TRUE(seen.insert(cp).second);
    EXPECT_EQ(byte_from_codepoint(cp), b);
  }
  EXPECT_EQ(byte_to_codepoint()[' '], 0x120u);   // 'Ġ'
  EXPECT_EQ(byte_to_codepoint()['A'], uint32_t('A'));
  std::string raw;
  EXPECT_TRUE(symbols_to_bytes(bytes_to_symbols(std::string("\xff\x00 x", 4)), raw));
  EXPECT_EQ(raw, std::string("\xff\x00 x", 4));
}

TEST(ByteLevel, Utf8ScanningIsStrict) {
  EXPECT_TRUE(utf8_valid("héllo 東京 🎉"));
  EXPECT_FALSE(utf8_valid("\xc0\xaf"));          // overlong
  EXPECT_FALSE(utf8_valid("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(utf8_valid("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(utf8_valid("ab\xe2\x82"));        // truncated
  EXPECT_FALSE(utf8_valid("\x80"));
}

TEST(PreTokenizer, Gpt2PatternSplitsLikeGpt2) {
  EXPECT_EQ(pieces(kGpt2Pattern, "Hello world's 123  !!\n\n x"),
            (std::vector<std::string>{"Hello", " world", "'s", " 123", " ", " !!", "\n\n", " x"}));
}

TEST(PreTokenizer, Llama3PatternGroupsDigitsByThree) {
  EXPECT_EQ(pieces(kLlama3Pattern, "abc 1234567 I'M"),
            (std::vector<std::string>{"abc", " ", "123", "456", "7", " I", "'M"}));
}

TEST(PreTokenizer, InvalidBytesActAsSymbolsAndKeepTheirBytes) {
  EXPECT_EQ(pieces(kGpt2Pattern, "ab \xff\xfe cd"), (std::vector<std::string>{"ab", " \xff\xfe", " cd"}));
  EXPECT_EQ(pieces(kGpt2Pattern, "x\xe2\x82y"), (std::vector<std::string>{"x", "\xe2\x82", "y"}));
}

TEST(PreTokenizer, LongRunsSplitWithoutLimits) {
  for (const char* pattern : {kGpt2Pattern, kLlama3Pattern}) {
    std::string text = std::string(1 << 20, ' ') + "x" + std::string(1 << 20, 'a') + std::string(1 << 18, '!') + "\n";
    auto p = pieces(pattern, text);
    size_t total = 0;
    for (auto& s : p) total += s.size();
    EXPECT_EQ(total, text.size());
    EXPECT_LE(p.size(), 8u) << pattern;
  }
}

TEST(PreTokenizer, BadPatternIsAnError) {
  EXPECT_THROW(PreTokenizer("(unclosed"), Error);
}

TEST(Tokenizer, RoundTripsArbitraryBytes) {
  for (const char* pattern : {"gpt2", "llama3"}) {
    Tokenizer tok = trained(pattern);
    Rng rng(42);
    for (int trial = 0; trial < 200; ++trial) {
      std::string s;
      size_t n = rng.below(80);
      for (size_t i = 0; i < n; ++i) {
        // Mostly text-like bytes with invalid sequences mixed in.
        uint64_t r = rng.below(10);
        s.push_back(static_cast<char>(r < 6 ? 'a' + rng.below(26) : r < 8 ? ' ' : rng.below(256)));
      }
      auto ids = tok.encode(s);
      EXPECT_EQ(tok.decode(ids), s) << pattern;
      for (int32_t id : ids) EXPECT_LT(id, tok.vocab_size());
    }
  }
}

TEST(Tokenizer, LongPiecesMergeLikeShortOnes) {
  // Pieces past 256 bytes take the heap path; a long word must split like its repeated parts.
  Tokenizer tok = trained("gpt2");
  std::string unit = "theheavenandtheearth";
  std::string word;
  for (int i = 0; i < 40; ++i) word += unit;
  auto ids = tok.encode(word);
  EXPECT_EQ(tok.decode(ids), word);
  EXPECT_LT(ids.size(), word.size() * 3 / 4);
  std::string spaced = std::string(1 << 16, 'a');
  EXPECT_EQ(tok.decode(tok.encode(spaced)), spaced);   // finishes: no quadratic blow-up
}

TEST(Tokenizer, MergesCompressCommonWords) {
  Tokenizer tok = trained("gpt2");
  auto ids = tok.encode(" the heaven and the earth");
  EXPECT_LT(ids.size(), std::string(" the heaven and the earth").size() / 2);
  EXPECT_EQ(tok.decode(ids), " the heaven and the earth");
}

TEST(Tokenizer, SpecialTokensAreMatchedInText) {
  Tokenizer tok = trained("gpt2");
  ASSERT_GE(tok.eos_id(), 0);
  EXPECT_EQ(tok.eos_id(), tok.vocab_size() - 1);
  auto ids = tok.encode("a<|endoftext|>b");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], tok.eos_id());
}

TEST(Tokenizer, SaveLoadRoundTripKeepsEncoding) {
  auto dir = test::temp_dir("tok");
  for (const char* pattern : {"gpt2", "llama3"}) {
    Tokenizer tok = trained(pattern);
    auto path = (dir / (std::string(pattern) + ".json")).string();
    tok.save(path);
    Tokenizer again = Tokenizer::load(path);
    std::string text = read_file(test::fixture("corpus.txt")).substr(0, 5000) + "\xff\xc3";
    EXPECT_EQ(tok.encode(text), again.encode(text)) << pattern;
    EXPECT_EQ(again.vocab_size(), tok.vocab_size());
    EXPECT_EQ(again.eos_id(), tok.eos_id());
  }
}

TEST(Tokenizer, ReadsGpt2VocabAndMerges) {
  auto dir = test::temp_dir("gpt2");
  Tokenizer tok = trained("gpt2");
  auto j = nlohmann::json::parse(tok.to_json());
  test::write_bytes(dir / "vocab.json", j["model"]["vocab"].dump());
  std::string merges = "#version: 0.2\n";
  for (const auto& m : j["model"]["merges"]) merges += m.get<std::string>() + "\n";
  test::write_bytes(dir / "merges.txt", merges);
  Tokenizer pair = Tokenizer::load(dir.string());
  std::string text = "It's a truth universally acknowledged<|endoftext|> 東京 \x80";
  EXPECT_EQ(pair.encode(text), tok.encode(text));
  EXPECT_EQ(pair.eos_id(), tok.eos_id());
}

TEST(Tokenizer, FileErrorsNameTheFile) {
  auto dir = test::temp_dir("bad");
  try {
    Tokenizer::load((dir / "missing.json").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.json"), std::string::npos);
  }
  test::write_bytes(dir / "broken.json", "{\"model\": ");
  try {
    Tokenizer::load((dir / "broken.json").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.json"), std::string::npos);
  }
  test::write_bytes(dir / "wp.json", R"({"model": {"type": "WordPiece", "vocab": {}}})");
  EXPECT_THROW(Tokenizer::load((dir / "wp.json").string()), Error);
}

TEST(Tokenizer, DecodeRejectsIdsOutsideTheVocabulary) {
  Tokenizer tok = trained("gpt2");
  std::vector<int32_t> ids{1, static_cast<int32_t>(tok.vocab_size())};
  EXPECT_THROW(tok.decode(ids), Error);
}

TEST(BpeTrainer, RejectsBadOptions) {
  EXPECT_THROW(BpeTrainer({.vocab_size = 100}), Error);
  EXPECT_THROW(BpeTrainer({.vocab_size = 1000, .pattern = "bert"}), Error);
}

TEST(BpeTrainer, IsDeterministicAndHitsTheVocabularySize) {
  Tokenizer a = trained("gpt2", 500), b = trained("gpt2", 500);
  EXPECT_EQ(a.vocab_size(), 500);
  EXPECT_EQ(a.to_json(), b.to_json());
}

}  // namespace
}  // namespace primus::data
