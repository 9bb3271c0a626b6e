// Regex pre-tokenization (PCRE2, UTF + Unicode properties, JIT): splits text into the pieces BPE
// runs on, keeping matches and the gaps between them as separate pieces (HF's "Isolated").
// Lossless on any bytes: a byte that does not start valid UTF-8 is matched as if it were U+FFFD
// (one replacement per byte), i.e. as a symbol that is neither letter, number nor space; its
// piece still carries the original byte. Thread-safe: one compiled pattern, per-call match data.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace primus::data {

// The split patterns of GPT-2 and Llama 3 (as in their tokenizer.json files).
extern const char* const kGpt2Pattern;
extern const char* const kLlama3Pattern;

class PreTokenizer {
 public:
  explicit PreTokenizer(std::string pattern);   // throws primus::Error on a bad pattern
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Appends to `out` the pieces of `text`, in order; together they cover `text` exactly.
  void split(std::string_view text, std::vector<std::string_view>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  void split_valid(std::string_view text, std::vector<std::string_view>& out) const;
  std::string pattern_;
  struct Code;
  std::unique_ptr<Code> code_;
};

}  // namespace primus::data
