// Byte-level BPE encoding and decoding (see tokenizer.h). Loading and saving of the file formats
// lives in tokenizer_io.cpp.
#include "data/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <queue>

#include "core/error.h"
#include "data/byte_level.h"
#include "data/pretokenizer.h"

namespace primus::data {

namespace {

std::atomic<uint64_t> g_next_uid{1};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Per-thread cache of pre-token encodings for the tokenizer that used the thread last.
struct PieceCache {
  uint64_t uid = 0;
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, StringHash, std::equal_to<>> map;
  std::vector<int32_t> arena;   // (total ids) the cached encodings, back to back
  void reset(uint64_t new_uid) {
    uid = new_uid;
    map.clear();
    arena.clear();
  }
};

constexpr size_t kMaxCachedPiece = 64;         // bytes; longer pieces are rare and not reused
constexpr size_t kMaxCacheIds = size_t{1} << 24;
constexpr size_t kLongPiece = 256;             // bytes; longer pieces merge through a heap

}  // namespace

// BPE for long pieces in O(n log n): symbols in a linked list, candidate pairs in a min-heap by
// (rank, position), stale entries skipped. Same order of merges as the quadratic loop (lowest
// rank first, leftmost first), which is also how Hugging Face merges.
void Tokenizer::bpe_long(std::vector<int32_t>& sym, std::vector<int32_t>& out) const {
  struct Cand {
    int32_t rank, pos, left, right;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  const auto n = static_cast<int32_t>(sym.size());
  std::vector<int32_t> next(static_cast<size_t>(n)), prev(static_cast<size_t>(n));   // (n) list links
  for (int32_t i = 0; i < n; ++i) {
    next[static_cast<size_t>(i)] = i + 1 < n ? i + 1 : -1;
    prev[static_cast<size_t>(i)] = i - 1;
  }
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int32_t i) {
    if (i < 0) return;
    int32_t j = next[static_cast<size_t>(i)];
    if (j < 0) return;
    int32_t a = sym[static_cast<size_t>(i)], b = sym[static_cast<size_t>(j)];
    auto it = merge_map_.find((static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b));
    if (it != merge_map_.end()) heap.push({it->second.rank, i, a, b});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    auto i = static_cast<size_t>(c.pos);
    int32_t j = next[i];
    if (sym[i] != c.left || j < 0 || sym[static_cast<size_t>(j)] != c.right) continue;   // stale
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(c.left)) << 32) | static_cast<uint32_t>(c.right);
    sym[i] = merge_map_.find(key)->second.id;
    sym[static_cast<size_t>(j)] = -1;
    next[i] = next[static_cast<size_t>(j)];
    if (next[i] >= 0) prev[static_cast<size_t>(next[i])] = c.pos;
    push(prev[i]);
    push(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = next[static_cast<size_t>(i)]) out.push_back(sym[static_cast<size_t>(i)]);
}

Tokenizer::Tokenizer() : uid_(g_next_uid.fetch_add(1)) { std::fill(std::begin(byte_id_), std::end(byte_id_), -1); }
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_spec(TokenizerSpec spec) {
  Tokenizer t;
  t.id_bytes_ = std::move(spec.vocab);
  t.merges_ = std::move(spec.merges);
  t.added_ = std::move(spec.added);
  t.split_pattern_ = std::move(spec.split_pattern);
  t.byte_level_regex_ = spec.byte_level_regex;
  t.add_prefix_space_ = spec.add_prefix_space;
  t.ignore_merges_ = spec.ignore_merges;
  t.build_tables();
  return t;
}

void Tokenizer::build_tables() {
  bytes_to_id_.clear();
  bytes_to_id_.reserve(id_bytes_.size() * 2);
  std::vector<bool> is_added(id_bytes_.size(), false);
  for (const auto& a : added_) {
    if (a.id < 0 || static_cast<size_t>(a.id) >= id_bytes_.size())
      throw Error(fmt::format("added token '{}' has id {} outside the vocabulary", a.content, a.id));
    is_added[static_cast<size_t>(a.id)] = true;
  }
  for (size_t i = 0; i < id_bytes_.size(); ++i)
    if (!is_added[i] && !id_bytes_[i].empty()) bytes_to_id_.emplace(id_bytes_[i], static_cast<int32_t>(i));
  std::fill(std::begin(added_first_), std::end(added_first_), false);
  for (const auto& a : added_)
    if (!a.content.empty()) added_first_[static_cast<unsigned char>(a.content[0])] = true;
  for (int b = 0; b < 256; ++b) {
    auto it = bytes_to_id_.find(std::string(1, static_cast<char>(b)));
    byte_id_[b] = it == bytes_to_id_.end() ? -1 : it->second;
  }
  merge_map_.clear();
  merge_map_.reserve(merges_.size() * 2);
  for (size_t r = 0; r < merges_.size(); ++r) {
    auto [a, b] = merges_[r];
    std::string joined = id_bytes_.at(static_cast<size_t>(a)) + id_bytes_.at(static_cast<size_t>(b));
    auto it = bytes_to_id_.find(joined);
    if (it == bytes_to_id_.end())
      throw Error(fmt::format("merge {} of the tokenizer makes a token missing from its vocabulary", r));
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    merge_map_.emplace(key, MergeInfo{static_cast<int32_t>(r), it->second});
  }
  splitters_.clear();
  if (!split_pattern_.empty()) splitters_.push_back(std::make_unique<PreTokenizer>(split_pattern_));
  if (byte_level_regex_) splitters_.push_back(std::make_unique<PreTokenizer>(kGpt2Pattern));
  // BOS/EOS by the conventional names unless the file said otherwise.
  auto find_added = [&](std::initializer_list<const char*> names) {
    for (const char* n : names)
      for (const auto& a : added_)
        if (a.content == n) return a.id;
    return -1;
  };
  if (eos_id_ < 0) eos_id_ = find_added({"<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eos|>"});
  if (bos_id_ < 0) bos_id_ = find_added({"<|begin_of_text|>", "<s>", "<bos>", "<|endoftext|>"});
}

int32_t Tokenizer::token_to_id(std::string_view raw_bytes) const {
  for (const auto& a : added_)
    if (a.content == raw_bytes) return a.id;
  auto it = bytes_to_id_.find(std::string(raw_bytes));
  return it == bytes_to_id_.end() ? -1 : it->second;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  encode_append(text, out);
  return out;
}

void Tokenizer::encode_append(std::string_view text, std::vector<int32_t>& out) const {
  if (added_.empty()) {
    encode_ordinary(text, out);
    return;
  }
  // Leftmost-longest match of the added tokens, as Hugging Face does before pre-tokenizing.
  size_t pos = 0, scan = 0;
  while (scan < text.size()) {
    if (!added_first_[static_cast<unsigned char>(text[scan])]) {
      ++scan;
      continue;
    }
    int32_t best_id = -1;
    size_t best_len = 0;
    for (const auto& a : added_) {
      if (a.content.empty() || a.content.size() <= best_len) continue;
      if (text.compare(scan, a.content.size(), a.content) == 0) {
        best_id = a.id;
        best_len = a.content.size();
      }
    }
    if (best_id < 0) {
      ++scan;
      continue;
    }
    encode_ordinary(text.substr(pos, scan - pos), out);
    out.push_back(best_id);
    scan += best_len;
    pos = scan;
  }
  encode_ordinary(text.substr(pos), out);
}

void Tokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::string prefixed;
  if (add_prefix_space_ && text[0] != ' ') {
    prefixed.reserve(text.size() + 1);
    prefixed.push_back(' ');
    prefixed.append(text);
    text = prefixed;
  }
  std::vector<std::string_view> pieces{text}, next;
  for (const auto& s : splitters_) {
    next.clear();
    for (auto p : pieces) s->split(p, next);
    pieces.swap(next);
  }
  for (auto p : pieces) encode_piece(p, out);
}

void Tokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() > kMaxCachedPiece) {
    bpe(piece, out);
    return;
  }
  thread_local PieceCache cache;
  if (cache.uid != uid_ || cache.arena.size() > kMaxCacheIds) cache.reset(uid_);
  auto it = cache.map.find(piece);
  if (it != cache.map.end()) {
    const int32_t* p = cache.arena.data() + it->second.first;
    out.insert(out.end(), p, p + it->second.second);
    return;
  }
  size_t before = out.size();
  bpe(piece, out);
  auto start = static_cast<uint32_t>(cache.arena.size());
  cache.arena.insert(cache.arena.end(), out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
  cache.map.emplace(std::string(piece), std::make_pair(start, static_cast<uint32_t>(out.size() - before)));
}

void Tokenizer::bpe(std::string_view piece, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    auto it = bytes_to_id_.find(std::string(piece));
    if (it != bytes_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  thread_local std::vector<int32_t> sym;   // (n) current symbols of the piece
  sym.clear();
  for (unsigned char c : piece) {
    if (byte_id_[c] < 0)
      throw Error(fmt::format("the tokenizer has no token for byte 0x{:02x}", static_cast<unsigned>(c)),
                  "byte-level BPE needs all 256 byte tokens in its vocabulary");
    sym.push_back(byte_id_[c]);
  }
  if (sym.size() > kLongPiece) {
    bpe_long(sym, out);
    return;
  }
  while (sym.size() > 1) {
    int32_t best_rank = INT32_MAX, best_id = -1, left = -1, right = -1;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(sym[i])) << 32) | static_cast<uint32_t>(sym[i + 1]);
      auto it = merge_map_.find(key);
      if (it != merge_map_.end() && it->second.rank < best_rank) {
        best_rank = it->second.rank;
        best_id = it->second.id;
        left = sym[i];
        right = sym[i + 1];
      }
    }
    if (best_id < 0) break;
    size_t w = 0;
    for (size_t i = 0; i < sym.size(); ++i) {
      if (i + 1 < sym.size() && sym[i] == left && sym[i + 1] == right) {
        sym[w++] = best_id;
        ++i;
      } else {
        sym[w++] = sym[i];
      }
    }
    sym.resize(w);
  }
  out.insert(out.end(), sym.begin(), sym.end());
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  out.reserve(ids.size() * 4);
  for (int32_t id : ids) {
    if (id < 0 || id >= static_cast<int32_t>(id_bytes_.size()))
      throw Error(fmt::format("token id {} is outside the vocabulary (size {})", id, id_bytes_.size()));
    out += id_bytes_[static_cast<size_t>(id)];
  }
  return out;
}

}  // namespace primus::data
