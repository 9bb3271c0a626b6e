// Training a byte-level BPE vocabulary: count the pre-tokens of a corpus (same split as the
// resulting tokenizer), then repeatedly merge the most frequent adjacent pair (ties: the smaller
// pair of ids) until the vocabulary is full. Ids 0-255 are the bytes; special tokens come last.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "data/tokenizer.h"

namespace primus::data {

struct BpeTrainerOptions {
  int64_t vocab_size = 50257;                                 // including bytes and special tokens
  std::vector<std::string> special_tokens = {"<|endoftext|>"};
  std::string pattern = "gpt2";                               // gpt2 | llama3
  int64_t min_frequency = 2;                                  // pairs seen fewer times are not merged
};

class BpeTrainer {
 public:
  explicit BpeTrainer(BpeTrainerOptions options);   // throws primus::usage_error on bad options
  // Counts the pre-tokens of `texts` (in parallel over texts). May be called repeatedly.
  void count(std::span<const std::string_view> texts);
  int64_t unique_words() const { return static_cast<int64_t>(counts_.size()); }
  Tokenizer train() const;

 private:
  BpeTrainerOptions options_;
  std::unordered_map<std::string, int64_t> counts_;   // pre-token bytes -> occurrences
};

}  // namespace primus::data
