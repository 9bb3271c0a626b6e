// Megatron indexed dataset and llm.c shard writers and readers (see indexed_dataset.h).
#include "data/indexed_dataset.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace primus::data {

namespace {

constexpr char kIdxMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', 0, 0};
constexpr size_t kIdxHeaderBytes = 9 + 8 + 1 + 8 + 8;
constexpr int32_t kLlmcMagic16 = 20240520, kLlmcVersion16 = 1;
constexpr int32_t kLlmcMagic32 = 20240801, kLlmcVersion32 = 7;
constexpr size_t kLlmcHeaderBytes = 256 * 4;

template <typename T>
void put(std::vector<unsigned char>& buf, T v) {
  unsigned char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));   // the host is little-endian (x86-64, aarch64)
  buf.insert(buf.end(), b, b + sizeof(T));
}

template <typename T>
T get(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

std::FILE* open_for_write(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw Error(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
  return f;
}

void write_all(std::FILE* f, const std::vector<unsigned char>& buf, const std::string& path) {
  if (!buf.empty() && std::fwrite(buf.data(), 1, buf.size(), f) != buf.size())
    throw Error(fmt::format("cannot write {}: {}", path, std::strerror(errno)), "check the free space");
}

void encode_tokens(std::vector<unsigned char>& buf, std::span<const int32_t> tokens, TokenDType dtype,
                   const std::string& path) {
  for (int32_t t : tokens) {
    if (t < 0 || (dtype == TokenDType::kUInt16 && t > 65535))
      throw Error(fmt::format("token id {} does not fit the {} tokens of {}", t,
                              dtype == TokenDType::kUInt16 ? "uint16" : "32-bit", path));
    if (dtype == TokenDType::kUInt16) put<uint16_t>(buf, static_cast<uint16_t>(t));
    else put<int32_t>(buf, t);
  }
}

void decode_tokens(const unsigned char* p, TokenDType dtype, int64_t count, int32_t* out) {
  if (dtype == TokenDType::kUInt16) {
    for (int64_t i = 0; i < count; ++i) out[i] = get<uint16_t>(p + 2 * i);
  } else {
    std::memcpy(out, p, static_cast<size_t>(count) * 4);
  }
}

}  // namespace

int token_dtype_size(TokenDType t) { return t == TokenDType::kUInt16 ? 2 : 4; }
int megatron_dtype_code(TokenDType t) { return t == TokenDType::kUInt16 ? 8 : 4; }
TokenDType megatron_dtype_for_vocab(int64_t vocab_size) {
  return vocab_size < 65500 ? TokenDType::kUInt16 : TokenDType::kInt32;
}

IndexedDatasetWriter::IndexedDatasetWriter(std::string prefix, TokenDType dtype)
    : prefix_(std::move(prefix)), dtype_(dtype) {
  if (dtype_ == TokenDType::kUInt32) throw Error("Megatron datasets store uint16 or int32 tokens");
  bin_ = open_for_write(prefix_ + ".bin.tmp");
}

IndexedDatasetWriter::~IndexedDatasetWriter() {
  if (bin_) std::fclose(bin_);
  if (!finished_) {
    std::remove((prefix_ + ".bin.tmp").c_str());
    std::remove((prefix_ + ".idx.tmp").c_str());
  }
}

void IndexedDatasetWriter::add_document(std::span<const int32_t> tokens) {
  buffer_.clear();
  encode_tokens(buffer_, tokens, dtype_, prefix_ + ".bin");
  write_all(bin_, buffer_, prefix_ + ".bin.tmp");
  lengths_.push_back(static_cast<int32_t>(tokens.size()));
  tokens_ += static_cast<int64_t>(tokens.size());
}

void IndexedDatasetWriter::finish() {
  if (lengths_.empty()) throw Error(fmt::format("no documents to write to {}.bin: the input is empty", prefix_));
  if (std::fclose(bin_) != 0) {
    bin_ = nullptr;
    throw Error(fmt::format("cannot write {}.bin.tmp", prefix_), "check the free space");
  }
  bin_ = nullptr;
  std::vector<unsigned char> idx;
  const size_t n = lengths_.size();
  idx.reserve(kIdxHeaderBytes + n * 20 + 8);
  idx.insert(idx.end(), kIdxMagic, kIdxMagic + 9);
  put<uint64_t>(idx, 1);
  put<uint8_t>(idx, static_cast<uint8_t>(megatron_dtype_code(dtype_)));
  put<uint64_t>(idx, n);
  put<uint64_t>(idx, n + 1);
  for (int32_t len : lengths_) put<int32_t>(idx, len);
  int64_t ptr = 0;
  for (int32_t len : lengths_) {
    put<int64_t>(idx, ptr);
    ptr += static_cast<int64_t>(len) * token_dtype_size(dtype_);
  }
  for (size_t d = 0; d <= n; ++d) put<int64_t>(idx, static_cast<int64_t>(d));
  std::FILE* f = open_for_write(prefix_ + ".idx.tmp");
  try {
    write_all(f, idx, prefix_ + ".idx.tmp");
  } catch (...) {
    std::fclose(f);
    throw;
  }
  if (std::fclose(f) != 0) throw Error(fmt::format("cannot write {}.idx.tmp", prefix_));
  // The .bin first: a reader only trusts a dataset through its .idx, which lands last.
  if (std::rename((prefix_ + ".bin.tmp").c_str(), (prefix_ + ".bin").c_str()) != 0 ||
      std::rename((prefix_ + ".idx.tmp").c_str(), (prefix_ + ".idx").c_str()) != 0)
    throw Error(fmt::format("cannot move {}.bin/.idx into place: {}", prefix_, std::strerror(errno)));
  finished_ = true;
}

bool IndexedDataset::exists(const std::string& prefix) {
  return std::filesystem::is_regular_file(prefix + ".idx") && std::filesystem::is_regular_file(prefix + ".bin");
}

IndexedDataset::IndexedDataset(const std::string& prefix) {
  const std::string idx_path = prefix + ".idx", bin_path = prefix + ".bin";
  for (const auto& p : {idx_path, bin_path})
    if (!std::filesystem::is_regular_file(p))
      throw Error(fmt::format("dataset file not found: {}", p), "give the PREFIX of PREFIX.bin and PREFIX.idx");
  idx_ = std::make_unique<MappedFile>(idx_path);
  bin_ = std::make_unique<MappedFile>(bin_path);
  const unsigned char* p = idx_->data();
  const size_t size = idx_->size();
  if (size < kIdxHeaderBytes || std::memcmp(p, kIdxMagic, 9) != 0)
    throw Error(fmt::format("{} is not a Megatron index: wrong magic", idx_path), "expected an MMIDIDX .idx file");
  if (auto version = get<uint64_t>(p + 9); version != 1)
    throw Error(fmt::format("{}: unsupported index version {} (expected 1)", idx_path, version));
  auto code = p[17];
  if (code == 8) dtype_ = TokenDType::kUInt16;
  else if (code == 4) dtype_ = TokenDType::kInt32;
  else throw Error(fmt::format("{}: unsupported token dtype code {} (expected 8 = uint16 or 4 = int32)", idx_path, code));
  auto seqs = get<uint64_t>(p + 18), docs = get<uint64_t>(p + 26);
  if (docs < 1 || seqs > size || docs > size || kIdxHeaderBytes + seqs * 12 + docs * 8 != size)
    throw Error(fmt::format("{} is truncated or corrupt: {} bytes for {} sequences and {} document entries",
                            idx_path, size, seqs, docs));
  lengths_.resize(seqs);
  pointers_.resize(seqs);
  doc_index_.resize(docs);
  std::memcpy(lengths_.data(), p + kIdxHeaderBytes, seqs * 4);
  std::memcpy(pointers_.data(), p + kIdxHeaderBytes + seqs * 4, seqs * 8);
  std::memcpy(doc_index_.data(), p + kIdxHeaderBytes + seqs * 12, docs * 8);
  const int64_t item = token_dtype_size(dtype_);
  int64_t expect = 0;
  for (size_t i = 0; i < seqs; ++i) {
    if (lengths_[i] < 0 || pointers_[i] != expect)
      throw Error(fmt::format("{}: sequence {} has a bad length or pointer", idx_path, i), "the index is corrupt");
    expect += lengths_[i] * item;
  }
  num_tokens_ = expect / item;
  if (doc_index_.front() != 0 || doc_index_.back() != static_cast<int64_t>(seqs))
    throw Error(fmt::format("{}: the document index does not cover the {} sequences", idx_path, seqs));
  for (size_t d = 1; d < docs; ++d)
    if (doc_index_[d] < doc_index_[d - 1]) throw Error(fmt::format("{}: the document index is not sorted", idx_path));
  if (static_cast<int64_t>(bin_->size()) != expect)
    throw Error(fmt::format("{} has {} bytes but its index {} describes {} bytes: {}", bin_path, bin_->size(), idx_path,
                            expect, static_cast<int64_t>(bin_->size()) < expect ? "the .bin is truncated" : "the .idx does not match this .bin"));
}

void IndexedDataset::read(int64_t seq, int64_t offset, int64_t count, int32_t* out) const {
  const auto s = static_cast<size_t>(seq);
  if (seq < 0 || s >= lengths_.size() || offset < 0 || count < 0 || offset + count > lengths_[s])
    throw Error(fmt::format("read past sequence {} of {}", seq, bin_->path()));
  decode_tokens(bin_->data() + pointers_[s] + offset * token_dtype_size(dtype_), dtype_, count, out);
}

LlmcShardWriter::LlmcShardWriter(std::string path, TokenDType dtype) : path_(std::move(path)), dtype_(dtype) {
  if (dtype_ == TokenDType::kInt32) dtype_ = TokenDType::kUInt32;
  file_ = open_for_write(path_ + ".tmp");
  std::vector<unsigned char> header(kLlmcHeaderBytes, 0);   // rewritten at finish()
  write_all(file_, header, path_ + ".tmp");
}

LlmcShardWriter::~LlmcShardWriter() {
  if (file_) std::fclose(file_);
  if (!finished_) std::remove((path_ + ".tmp").c_str());
}

void LlmcShardWriter::add_tokens(std::span<const int32_t> tokens) {
  buffer_.clear();
  encode_tokens(buffer_, tokens, dtype_, path_);
  write_all(file_, buffer_, path_ + ".tmp");
  tokens_ += static_cast<int64_t>(tokens.size());
}

void LlmcShardWriter::finish() {
  if (tokens_ == 0) throw Error(fmt::format("no tokens to write to {}: the input is empty", path_));
  if (tokens_ > INT32_MAX) throw Error(fmt::format("{}: an llm.c shard holds at most 2^31-1 tokens", path_));
  const bool wide = dtype_ == TokenDType::kUInt32;
  std::vector<unsigned char> header;
  put<int32_t>(header, wide ? kLlmcMagic32 : kLlmcMagic16);
  put<int32_t>(header, wide ? kLlmcVersion32 : kLlmcVersion16);
  put<int32_t>(header, static_cast<int32_t>(tokens_));
  header.resize(kLlmcHeaderBytes, 0);
  if (std::fseek(file_, 0, SEEK_SET) != 0) throw Error(fmt::format("cannot seek in {}.tmp", path_));
  write_all(file_, header, path_ + ".tmp");
  int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0 || std::rename((path_ + ".tmp").c_str(), path_.c_str()) != 0)
    throw Error(fmt::format("cannot write {}: {}", path_, std::strerror(errno)), "check the free space");
  finished_ = true;
}

bool LlmcShard::is_shard(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  int32_t magic = 0;
  bool ok = std::fread(&magic, 4, 1, f) == 1;
  std::fclose(f);
  return ok && (magic == kLlmcMagic16 || magic == kLlmcMagic32);
}

LlmcShard::LlmcShard(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw Error(fmt::format("shard not found: {}", path));
  file_ = std::make_unique<MappedFile>(path);
  const unsigned char* p = file_->data();
  if (file_->size() < kLlmcHeaderBytes) throw Error(fmt::format("{} is too short for an llm.c shard header", path));
  auto magic = get<int32_t>(p), version = get<int32_t>(p + 4);
  if (magic == kLlmcMagic16 && version == kLlmcVersion16) dtype_ = TokenDType::kUInt16;
  else if (magic == kLlmcMagic32 && version == kLlmcVersion32) dtype_ = TokenDType::kUInt32;
  else throw Error(fmt::format("{}: not an llm.c shard (magic {}, version {})", path, magic, version),
                   "expected magic 20240520 version 1 or magic 20240801 version 7");
  num_tokens_ = get<int32_t>(p + 8);
  const auto expect = kLlmcHeaderBytes + static_cast<size_t>(num_tokens_) * static_cast<size_t>(token_dtype_size(dtype_));
  if (num_tokens_ < 0 || file_->size() != expect)
    throw Error(fmt::format("{} has {} bytes but its header announces {} tokens ({} bytes): the shard is {}", path,
                            file_->size(), num_tokens_, expect, file_->size() < expect ? "truncated" : "corrupt"));
}

void LlmcShard::read(int64_t offset, int64_t count, int32_t* out) const {
  if (offset < 0 || count < 0 || offset + count > num_tokens_) throw Error(fmt::format("read past the end of {}", path()));
  decode_tokens(file_->data() + kLlmcHeaderBytes + offset * token_dtype_size(dtype_), dtype_, count, out);
}

}  // namespace primus::data
