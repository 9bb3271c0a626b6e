// Byte-level BPE training (see bpe_trainer.h). Pair counts are updated incrementally per merged
// word; a max-heap with lazy re-validation picks the next pair.
#include "data/bpe_trainer.h"

#include <omp.h>

#include <algorithm>
#include <queue>

#include "core/error.h"
#include "data/pretokenizer.h"

namespace primus::data {

namespace {

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

struct HeapEntry {
  int64_t count;
  uint64_t key;
  bool operator<(const HeapEntry& o) const {   // max count first, then the smaller key
    return count != o.count ? count < o.count : key > o.key;
  }
};

}  // namespace

BpeTrainer::BpeTrainer(BpeTrainerOptions options) : options_(std::move(options)) {
  if (options_.pattern != "gpt2" && options_.pattern != "llama3")
    throw usage_error(fmt::format("unknown pre-tokenizer pattern '{}'", options_.pattern), "use gpt2 or llama3");
  int64_t floor = 256 + static_cast<int64_t>(options_.special_tokens.size());
  if (options_.vocab_size < floor)
    throw usage_error(fmt::format("vocabulary size {} is below the {} byte and special tokens", options_.vocab_size, floor));
}

void BpeTrainer::count(std::span<const std::string_view> texts) {
  const bool llama = options_.pattern == "llama3";
  PreTokenizer gpt2(kGpt2Pattern), llama3(kLlama3Pattern);
  const PreTokenizer& split = llama ? llama3 : gpt2;
  int threads = omp_get_max_threads();
  std::vector<std::unordered_map<std::string, int64_t>> local(static_cast<size_t>(threads));
#pragma omp parallel num_threads(threads)
  {
    auto& mine = local[static_cast<size_t>(omp_get_thread_num())];
    std::vector<std::string_view> pieces;
#pragma omp for schedule(dynamic, 1)
    for (size_t i = 0; i < texts.size(); ++i) {
      pieces.clear();
      split.split(texts[i], pieces);
      for (auto p : pieces) ++mine[std::string(p)];
    }
  }
  for (auto& m : local)
    for (auto& [w, c] : m) counts_[w] += c;
}

Tokenizer BpeTrainer::train() const {
  struct Word {
    std::vector<int32_t> syms;
    int64_t count;
  };
  std::vector<std::string> vocab(256);
  std::unordered_map<std::string, int32_t> id_of;
  for (int b = 0; b < 256; ++b) {
    vocab[static_cast<size_t>(b)] = std::string(1, static_cast<char>(b));
    id_of[vocab[static_cast<size_t>(b)]] = b;
  }
  // Sorted words make the result independent of hash-map order.
  std::vector<std::pair<std::string, int64_t>> sorted(counts_.begin(), counts_.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<Word> words;
  words.reserve(sorted.size());
  for (auto& [w, c] : sorted) {
    Word word{{}, c};
    for (unsigned char ch : w) word.syms.push_back(ch);
    words.push_back(std::move(word));
  }
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;   // pair -> words that may hold it
  for (size_t w = 0; w < words.size(); ++w)
    for (size_t i = 0; i + 1 < words[w].syms.size(); ++i) {
      uint64_t k = pair_key(words[w].syms[i], words[w].syms[i + 1]);
      pair_count[k] += words[w].count;
      auto& v = where[k];
      if (v.empty() || v.back() != static_cast<int32_t>(w)) v.push_back(static_cast<int32_t>(w));
    }
  std::priority_queue<HeapEntry> heap;
  for (auto& [k, c] : pair_count) heap.push({c, k});

  const int64_t target = options_.vocab_size - static_cast<int64_t>(options_.special_tokens.size());
  std::vector<std::pair<int32_t, int32_t>> merges;
  std::vector<int64_t> stamp(words.size(), -1);
  while (static_cast<int64_t>(vocab.size()) < target && !heap.empty()) {
    HeapEntry top = heap.top();
    heap.pop();
    int64_t current = pair_count[top.key];
    if (current != top.count) {
      if (current > 0) heap.push({current, top.key});
      continue;
    }
    if (current < options_.min_frequency) break;
    auto a = static_cast<int32_t>(top.key >> 32), b = static_cast<int32_t>(top.key & 0xffffffffu);
    std::string joined = vocab[static_cast<size_t>(a)] + vocab[static_cast<size_t>(b)];
    int32_t id;
    if (auto it = id_of.find(joined); it != id_of.end()) {
      id = it->second;
    } else {
      id = static_cast<int32_t>(vocab.size());
      vocab.push_back(joined);
      id_of.emplace(joined, id);
    }
    merges.emplace_back(a, b);
    const int64_t m = static_cast<int64_t>(merges.size());
    std::vector<int32_t> affected = std::move(where[top.key]);
    where.erase(top.key);
    std::unordered_map<uint64_t, int64_t> grown;
    for (int32_t w : affected) {
      if (stamp[static_cast<size_t>(w)] == m) continue;
      stamp[static_cast<size_t>(w)] = m;
      auto& word = words[static_cast<size_t>(w)];
      auto& s = word.syms;
      bool has = false;
      for (size_t i = 0; i + 1 < s.size(); ++i) has = has || (s[i] == a && s[i + 1] == b);
      if (!has) continue;
      for (size_t i = 0; i + 1 < s.size(); ++i) pair_count[pair_key(s[i], s[i + 1])] -= word.count;
      size_t o = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          s[o++] = id;
          ++i;
        } else {
          s[o++] = s[i];
        }
      }
      s.resize(o);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        uint64_t k = pair_key(s[i], s[i + 1]);
        pair_count[k] += word.count;
        if (s[i] == id || s[i + 1] == id) {
          grown[k] = pair_count[k];
          auto& v = where[k];
          if (v.empty() || v.back() != w) v.push_back(w);
        }
      }
    }
    pair_count.erase(top.key);
    for (auto& [k, c] : grown) heap.push({pair_count[k], k});
  }

  TokenizerSpec spec;
  for (const auto& t : options_.special_tokens) {
    spec.added.push_back({t, static_cast<int32_t>(vocab.size()), true, true});
    vocab.push_back(t);
  }
  spec.vocab = std::move(vocab);
  spec.merges = std::move(merges);
  if (options_.pattern == "llama3") {
    spec.split_pattern = kLlama3Pattern;
    spec.byte_level_regex = false;
  }
  return Tokenizer::from_spec(std::move(spec));
}

}  // namespace primus::data
