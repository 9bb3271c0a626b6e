// Megatron-LM's indexed dataset (MMapIndexedDataset): PREFIX.bin holds the tokens of every
// sequence back to back; PREFIX.idx holds, little-endian: the 9-byte magic "MMIDIDX\0\0", version
// u64 = 1, dtype code u8 (uint16 = 8, int32 = 4), sequence count u64, document-index count u64,
// then int32 sequence lengths, int64 byte pointers and int64 document indices (0, ..., count).
// We write one sequence per document, as Megatron's preprocess_data.py does.
// The writer puts everything under PREFIX.*.tmp and renames at finish(); a writer destroyed
// before finish() removes its temporaries, so nothing half-written is left at PREFIX.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "data/file_util.h"

namespace primus::data {

enum class TokenDType : uint8_t { kUInt16, kInt32, kUInt32 };

int token_dtype_size(TokenDType t);
int megatron_dtype_code(TokenDType t);   // 8 or 4; kUInt32 has no Megatron code
// The narrowest Megatron dtype for a vocabulary (as Megatron: uint16 below 65500, else int32).
TokenDType megatron_dtype_for_vocab(int64_t vocab_size);

class IndexedDatasetWriter {
 public:
  IndexedDatasetWriter(std::string prefix, TokenDType dtype);
  ~IndexedDatasetWriter();
  IndexedDatasetWriter(const IndexedDatasetWriter&) = delete;
  IndexedDatasetWriter& operator=(const IndexedDatasetWriter&) = delete;
  void add_document(std::span<const int32_t> tokens);   // throws if a token does not fit the dtype
  void finish();                                          // writes the index, renames into place
  int64_t documents() const { return static_cast<int64_t>(lengths_.size()); }
  int64_t tokens() const { return tokens_; }

 private:
  std::string prefix_;
  TokenDType dtype_;
  std::FILE* bin_ = nullptr;
  std::vector<int32_t> lengths_;
  std::vector<unsigned char> buffer_;
  int64_t tokens_ = 0;
  bool finished_ = false;
};

// A memory-mapped, fully validated dataset. Errors name the offending file.
class IndexedDataset {
 public:
  explicit IndexedDataset(const std::string& prefix);
  static bool exists(const std::string& prefix);   // PREFIX.idx and PREFIX.bin are both there
  int64_t num_sequences() const { return static_cast<int64_t>(lengths_.size()); }
  int64_t num_documents() const { return static_cast<int64_t>(doc_index_.size()) - 1; }
  int64_t num_tokens() const { return num_tokens_; }
  TokenDType dtype() const { return dtype_; }
  int64_t sequence_length(int64_t i) const { return lengths_[static_cast<size_t>(i)]; }
  std::span<const int64_t> document_index() const { return doc_index_; }
  // Copies `count` tokens of sequence `seq` from `offset` into out.
  void read(int64_t seq, int64_t offset, int64_t count, int32_t* out) const;
  const std::string& bin_path() const { return bin_->path(); }
  const std::string& idx_path() const { return idx_->path(); }

 private:
  std::unique_ptr<MappedFile> idx_, bin_;
  TokenDType dtype_ = TokenDType::kUInt16;
  // Copies: the arrays of an .idx are not naturally aligned (they start at byte 34).
  std::vector<int32_t> lengths_;     // (sequences)
  std::vector<int64_t> pointers_;    // (sequences) byte offsets into the .bin
  std::vector<int64_t> doc_index_;   // (documents + 1)
  int64_t num_tokens_ = 0;
};

// llm.c token shards: 256 int32 header (magic, version, token count), then the tokens:
// magic 20240520 / version 1 / uint16 (GPT-2) or magic 20240801 / version 7 / uint32 (Llama 3).
class LlmcShardWriter {
 public:
  LlmcShardWriter(std::string path, TokenDType dtype);   // kUInt16 or kUInt32
  ~LlmcShardWriter();
  LlmcShardWriter(const LlmcShardWriter&) = delete;
  LlmcShardWriter& operator=(const LlmcShardWriter&) = delete;
  void add_tokens(std::span<const int32_t> tokens);
  void finish();
  int64_t tokens() const { return tokens_; }

 private:
  std::string path_;
  TokenDType dtype_;
  std::FILE* file_ = nullptr;
  std::vector<unsigned char> buffer_;
  int64_t tokens_ = 0;
  bool finished_ = false;
};

class LlmcShard {
 public:
  explicit LlmcShard(const std::string& path);
  static bool is_shard(const std::string& path);   // a file starting with an llm.c magic
  int64_t num_tokens() const { return num_tokens_; }
  TokenDType dtype() const { return dtype_; }
  void read(int64_t offset, int64_t count, int32_t* out) const;
  const std::string& path() const { return file_->path(); }

 private:
  std::unique_ptr<MappedFile> file_;
  TokenDType dtype_ = TokenDType::kUInt16;
  int64_t num_tokens_ = 0;
};

}  // namespace primus::data
