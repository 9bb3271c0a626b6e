// Byte-level BPE tokenizer, compatible with Hugging Face tokenizer.json files (BPE model, ByteLevel
// pre-tokenizer/decoder, optional Split regex such as Llama 3's, added and special tokens) and with
// GPT-2's vocab.json + merges.txt pair. encode() works on any bytes, invalid UTF-8 included, and
// decode(encode(x)) == x. encode() adds no BOS/EOS; callers add bos_id()/eos_id() where wanted.
// A loaded Tokenizer is immutable; encode() may run on many threads at once (each thread keeps
// its own cache of pre-token encodings).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace primus::data {

class PreTokenizer;

struct AddedToken {
  std::string content;   // matched verbatim in the input text
  int32_t id = -1;
  bool special = true;
  bool in_vocab = true;  // also listed in the BPE model's vocab (GPT-2) or only in added_tokens (Llama 3)
};

// What a trainer (or a loader) hands over to build a tokenizer from parts.
struct TokenizerSpec {
  std::vector<std::string> vocab;                      // raw bytes of each id (index = id)
  std::vector<std::pair<int32_t, int32_t>> merges;     // in rank order; result must be in vocab
  std::vector<AddedToken> added;                       // ids inside vocab's range
  std::string split_pattern;                           // Split regex before ByteLevel; empty = none
  bool byte_level_regex = true;                        // ByteLevel applies the GPT-2 pattern
  bool add_prefix_space = false;
  bool ignore_merges = false;                          // a whole pre-token in the vocab wins (Llama 3)
};

class Tokenizer {
 public:
  // tokenizer.json, or a folder (or vocab.json path) with vocab.json + merges.txt.
  static Tokenizer load(const std::string& path);
  static Tokenizer from_spec(TokenizerSpec spec);
  static Tokenizer from_json(const std::string& json_text, const std::string& name = "tokenizer.json");
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text) const;
  void encode_append(std::string_view text, std::vector<int32_t>& out) const;
  std::string decode(std::span<const int32_t> ids) const;   // throws primus::Error on a bad id
  int64_t vocab_size() const { return static_cast<int64_t>(id_bytes_.size()); }
  int32_t eos_id() const { return eos_id_; }   // -1 if none
  int32_t bos_id() const { return bos_id_; }   // -1 if none
  bool adds_bos() const { return adds_bos_; }  // its post-processor prepends BOS (Llama 3)
  int32_t token_to_id(std::string_view raw_bytes) const;   // -1 if absent
  const std::string& id_to_bytes(int32_t id) const { return id_bytes_.at(static_cast<size_t>(id)); }
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  // Writes a tokenizer.json that Hugging Face tokenizers loads (atomically).
  void save(const std::string& path) const;
  std::string to_json() const;

 private:
  Tokenizer();
  void build_tables();
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const;
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  void bpe(std::string_view piece, std::vector<int32_t>& out) const;
  void bpe_long(std::vector<int32_t>& sym, std::vector<int32_t>& out) const;

  struct MergeInfo { int32_t rank, id; };
  std::vector<std::string> id_bytes_;                          // (V) raw bytes per id
  std::unordered_map<std::string, int32_t> bytes_to_id_;
  std::unordered_map<uint64_t, MergeInfo> merge_map_;          // (left << 32 | right) -> merge
  std::vector<std::pair<int32_t, int32_t>> merges_;
  int32_t byte_id_[256];
  std::vector<AddedToken> added_;
  bool added_first_[256] = {};                                 // first bytes of added tokens
  std::vector<std::unique_ptr<PreTokenizer>> splitters_;       // applied in order
  std::string split_pattern_;
  bool byte_level_regex_ = true, add_prefix_space_ = false, ignore_merges_ = false;
  bool adds_bos_ = false;
  int32_t eos_id_ = -1, bos_id_ = -1;
  uint64_t uid_ = 0;                                           // keys the per-thread caches
  std::string post_processor_json_;                            // kept verbatim for save()
};

}  // namespace primus::data
