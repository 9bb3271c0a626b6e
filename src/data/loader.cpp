// Token loaders (see loader.h): sources (Megatron datasets or llm.c shards), per-split sample
// indices with per-epoch shuffles, the weighted blend, data-parallel dealing and mock tokens.
#include "data/loader.h"

#include <glob.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "data/indexed_dataset.h"

namespace primus::data {

namespace {

constexpr int64_t kShardUnitTokens = 8192;   // llm.c shards have no documents: shuffle/split in units

uint64_t mix(uint64_t a, uint64_t b) {   // splitmix64 of a combination, for independent seeds
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E5Bull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

template <typename T>
void shuffle(std::vector<T>& v, uint64_t seed) {   // Fisher-Yates with our own RNG: same everywhere
  Rng rng(seed);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

// One unit of a source: a span of tokens in one file (a document's sequence, or a shard chunk).
struct Unit {
  int32_t file;
  int64_t index;    // sequence number (Megatron) or token offset (llm.c)
  int64_t length;
};

// The files behind one DataSource path, as a list of units in file order.
class Source {
 public:
  explicit Source(const std::string& path) : path_(path) {
    if (IndexedDataset::exists(path)) {
      auto& ds = megatron_.emplace_back(std::make_unique<IndexedDataset>(path));
      auto doc = ds->document_index();
      for (size_t d = 0; d + 1 < doc.size(); ++d) {
        doc_start_.push_back(static_cast<int64_t>(units_.size()));
        for (int64_t s = doc[d]; s < doc[d + 1]; ++s) units_.push_back({0, s, ds->sequence_length(s)});
      }
      return;
    }
    std::vector<std::string> files;
    glob_t g{};
    if (::glob(path.c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    if (files.empty())
      throw Error(fmt::format("dataset not found: {} (no {}.bin/.idx pair, no llm.c shard)", path, path),
                  "run `primus data prepare` first, or fix data.train / data.valid");
    for (const auto& f : files) {
      auto& sh = shards_.emplace_back(std::make_unique<LlmcShard>(f));
      auto file = static_cast<int32_t>(shards_.size() - 1);
      for (int64_t off = 0; off < sh->num_tokens(); off += kShardUnitTokens) {
        doc_start_.push_back(static_cast<int64_t>(units_.size()));
        units_.push_back({file, off, std::min(kShardUnitTokens, sh->num_tokens() - off)});
      }
    }
  }
  const std::string& path() const { return path_; }
  int64_t num_documents() const { return static_cast<int64_t>(doc_start_.size()); }
  // Units of documents [d0, d1).
  std::pair<int64_t, int64_t> units_of(int64_t d0, int64_t d1) const {
    auto at = [&](int64_t d) { return d == num_documents() ? static_cast<int64_t>(units_.size()) : doc_start_[static_cast<size_t>(d)]; };
    return {at(d0), at(d1)};
  }
  const Unit& unit(int64_t u) const { return units_[static_cast<size_t>(u)]; }
  void read(const Unit& u, int64_t offset, int64_t count, int32_t* out) const {
    if (!megatron_.empty()) megatron_[0]->read(u.index, offset, count, out);
    else shards_[static_cast<size_t>(u.file)]->read(u.index + offset, count, out);
  }
  std::string file_name(const Unit& u) const {
    return megatron_.empty() ? shards_[static_cast<size_t>(u.file)]->path() : megatron_[0]->bin_path();
  }

 private:
  std::string path_;
  std::vector<std::unique_ptr<IndexedDataset>> megatron_;
  std::vector<std::unique_ptr<LlmcShard>> shards_;
  std::vector<Unit> units_;
  std::vector<int64_t> doc_start_;
};

// The samples of one source's split: each epoch shuffles the units, concatenates them, cuts
// samples of T+1 tokens every T tokens, and shuffles the samples.
class SampleIndex {
 public:
  SampleIndex(std::shared_ptr<Source> src, int64_t u0, int64_t u1, int64_t T, uint64_t seed, int64_t vocab_size,
              const char* split)
      : src_(std::move(src)), u0_(u0), u1_(u1), T_(T), seed_(seed), vocab_size_(vocab_size) {
    int64_t tokens = 0;
    for (int64_t u = u0; u < u1; ++u) tokens += src_->unit(u).length;
    per_epoch_ = tokens > 0 ? (tokens - 1) / T : 0;
    if (per_epoch_ < 1)
      throw Error(fmt::format("the {} split of {} has {} tokens, fewer than seq_len + 1 = {}", split, src_->path(),
                              tokens, T + 1),
                  "use more data, a shorter seq_len, or a separate data.valid");
  }
  // Tokens of sample k (any epoch) into out[0..T].
  void sample(int64_t k, int32_t* out) {
    load_epoch(k / per_epoch_);
    int64_t pos = order_[static_cast<size_t>(k % per_epoch_)] * T_;
    auto it = std::upper_bound(prefix_.begin(), prefix_.end(), pos);
    auto i = static_cast<size_t>(it - prefix_.begin()) - 1;
    int64_t need = T_ + 1, off = pos - prefix_[i];
    int32_t* dst = out;
    while (need > 0) {
      const Unit& u = src_->unit(units_[i]);
      int64_t n = std::min(need, u.length - off);
      src_->read(u, off, n, dst);
      if (vocab_size_ > 0)
        for (int64_t j = 0; j < n; ++j)
          if (dst[j] < 0 || dst[j] >= vocab_size_)
            throw Error(fmt::format("{}: token id {} is outside the model's vocabulary (size {})", src_->file_name(u),
                                    dst[j], vocab_size_),
                        "the dataset was prepared with another tokenizer than this model's vocab_size");
      dst += n;
      need -= n;
      off = 0;
      ++i;
    }
  }

 private:
  void load_epoch(int64_t epoch) {
    if (epoch == epoch_) return;
    epoch_ = epoch;
    units_.resize(static_cast<size_t>(u1_ - u0_));
    std::iota(units_.begin(), units_.end(), u0_);
    shuffle(units_, mix(seed_, static_cast<uint64_t>(2 * epoch)));
    prefix_.assign(1, 0);
    for (int64_t u : units_) prefix_.push_back(prefix_.back() + src_->unit(u).length);
    prefix_.pop_back();   // prefix_[i] = first token of units_[i]
    order_.resize(static_cast<size_t>(per_epoch_));
    std::iota(order_.begin(), order_.end(), int64_t{0});
    shuffle(order_, mix(seed_, static_cast<uint64_t>(2 * epoch + 1)));
  }

  std::shared_ptr<Source> src_;
  int64_t u0_, u1_, T_;
  uint64_t seed_;
  int64_t vocab_size_;
  int64_t per_epoch_ = 0;
  int64_t epoch_ = -1;
  std::vector<int64_t> units_, prefix_, order_;   // (units), (units), (samples per epoch)
};

class DatasetLoader final : public TokenLoader {
 public:
  DatasetLoader(std::vector<std::unique_ptr<SampleIndex>> parts, std::vector<double> weights, int64_t B,
                int64_t T, int rank, int dp, uint64_t seed)
      : parts_(std::move(parts)), weights_(std::move(weights)), B_(B), T_(T), rank_(rank), dp_(dp), seed_(seed) {
    rewind();
  }

  void next(int32_t* inputs, int32_t* targets) override {
    std::vector<int32_t> row(static_cast<size_t>(T_ + 1));   // (T+1)
    const int64_t first = global_ + static_cast<int64_t>(rank_) * B_;
    for (int64_t b = 0; b < B_; ++b) {
      auto [d, k] = blend_at(first + b);
      parts_[d]->sample(k, row.data());
      std::copy(row.begin(), row.end() - 1, inputs + b * T_);
      std::copy(row.begin() + 1, row.end(), targets + b * T_);
    }
    global_ += static_cast<int64_t>(dp_) * B_;
  }

  nlohmann::json state() const override {
    return {{"kind", "dataset"}, {"global_sample", global_}, {"seq_len", T_}, {"micro_batch_size", B_},
            {"seed", seed_}, {"sources", parts_.size()}};
  }

  void restore(const nlohmann::json& s) override {
    if (s.value("kind", "") != "dataset" || s.value("seq_len", int64_t{-1}) != T_ ||
        s.value("micro_batch_size", int64_t{-1}) != B_ || s.value("seed", uint64_t{0}) != seed_ ||
        s.value("sources", size_t{0}) != parts_.size())
      throw Error(fmt::format("cannot restore the data loader from state {}", s.dump()),
                  "resume with the same data, seq_len, micro_batch_size and seed");
    rewind();
    global_ = s.at("global_sample").get<int64_t>();
  }

  void rewind() override {
    global_ = 0;
    blend_next_ = 0;
    taken_.assign(parts_.size(), 0);
  }

 private:
  // Megatron's blending rule: sample i goes to the source furthest behind its weight.
  std::pair<size_t, int64_t> blend_at(int64_t i) {
    if (parts_.size() == 1) return {0, i};
    PRIMUS_CHECK(i >= blend_next_, "blend index must move forward");
    for (;; ++blend_next_) {
      double at = std::max<double>(static_cast<double>(blend_next_), 1.0);
      size_t best = 0;
      double best_err = -1e300;
      for (size_t d = 0; d < parts_.size(); ++d) {
        double err = weights_[d] * at - static_cast<double>(taken_[d]);
        if (err > best_err) {
          best_err = err;
          best = d;
        }
      }
      int64_t k = taken_[best]++;
      if (blend_next_ == i) {
        ++blend_next_;
        return {best, k};
      }
    }
  }

  std::vector<std::unique_ptr<SampleIndex>> parts_;
  std::vector<double> weights_;
  int64_t B_, T_;
  int rank_, dp_;
  uint64_t seed_;
  int64_t global_ = 0, blend_next_ = 0;
  std::vector<int64_t> taken_;
};

class MockLoader final : public TokenLoader {
 public:
  MockLoader(int64_t B, int64_t T, uint64_t seed, int64_t vocab) : B_(B), T_(T), seed_(seed), vocab_(vocab) { rewind(); }
  void next(int32_t* inputs, int32_t* targets) override {
    for (int64_t b = 0; b < B_; ++b) {
      int32_t prev = static_cast<int32_t>(rng_.below(static_cast<uint64_t>(vocab_)));
      for (int64_t t = 0; t < T_; ++t) {
        int32_t cur = static_cast<int32_t>(rng_.below(static_cast<uint64_t>(vocab_)));
        inputs[b * T_ + t] = prev;
        targets[b * T_ + t] = cur;
        prev = cur;
      }
    }
  }
  nlohmann::json state() const override { return {{"kind", "mock"}, {"rng", rng_.state()}}; }
  void restore(const nlohmann::json& s) override {
    if (s.value("kind", "") != "mock") throw Error("cannot restore a mock data loader from a dataset loader's state");
    rng_.set_state(s.at("rng").get<uint64_t>());
  }
  void rewind() override { rng_ = Rng(seed_); }

 private:
  int64_t B_, T_;
  uint64_t seed_;
  int64_t vocab_;
  Rng rng_;
};

}  // namespace

const char* split_name(Split s) { return s == Split::kTrain ? "train" : s == Split::kValid ? "valid" : "test"; }

std::array<double, 3> parse_split(const std::string& text) {
  std::array<double, 3> f{0, 0, 0};
  size_t i = 0, start = 0;
  auto bad = [&] { return usage_error(fmt::format("bad data split '{}'", text), "write three weights like 98,1,1"); };
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (i >= 3) throw bad();
    try {
      size_t used = 0;
      f[i] = std::stod(text.substr(start, end - start), &used);
      if (used != end - start) throw bad();
    } catch (const std::logic_error&) {
      throw bad();
    }
    if (!(f[i] >= 0)) throw bad();
    ++i;
    start = end + 1;
  }
  double sum = f[0] + f[1] + f[2];
  if (sum <= 0) throw bad();
  for (auto& x : f) x /= sum;
  return f;
}

std::array<int64_t, 2> split_range(const std::array<double, 3>& fractions, int64_t n, Split s) {
  std::array<int64_t, 4> b{0, 0, 0, n};
  double cum = 0;
  for (int i = 0; i < 2; ++i) {
    cum += fractions[static_cast<size_t>(i)];
    b[static_cast<size_t>(i) + 1] = std::min<int64_t>(n, std::llround(cum * static_cast<double>(n)));
  }
  auto k = static_cast<size_t>(s);
  return {b[k], b[k + 1]};
}

std::unique_ptr<TokenLoader> make_loader(const config::DataConfig& data, Split split, int64_t B, int64_t T,
                                         int dp_rank, int dp_size, uint64_t seed, int64_t vocab_size) {
  if (B < 1 || T < 1) throw usage_error(fmt::format("bad loader shape B={} T={}", B, T));
  if (dp_size < 1 || dp_rank < 0 || dp_rank >= dp_size)
    throw usage_error(fmt::format("bad data-parallel rank {} of {}", dp_rank, dp_size));
  const uint64_t split_seed = mix(seed, static_cast<uint64_t>(split));
  if (data.mock) {
    if (vocab_size < 1) throw usage_error("mock data needs a positive vocab_size");
    return std::make_unique<MockLoader>(B, T, mix(split_seed, static_cast<uint64_t>(dp_rank) + 1), vocab_size);
  }
  const bool separate = split != Split::kTrain && !data.valid.empty();
  if (split == Split::kTest && !data.valid.empty())
    throw usage_error("there is no test split when data.valid is given");
  const auto& sources = separate ? data.valid : data.train;
  if (sources.empty()) throw usage_error("data.train is empty", "set data.train to a dataset prefix, or data.mock: true");
  const auto fractions = (data.valid.empty()) ? parse_split(data.split) : std::array<double, 3>{1, 0, 0};
  std::vector<std::unique_ptr<SampleIndex>> parts;
  std::vector<double> weights;
  double total = 0;
  for (size_t i = 0; i < sources.size(); ++i) {
    const auto& ds = sources[i];
    if (!(ds.weight > 0)) throw usage_error(fmt::format("dataset {} has weight {}; weights must be positive", ds.path, ds.weight));
    auto src = std::make_shared<Source>(ds.path);
    const Split carve = separate ? Split::kTrain : split;
    auto [d0, d1] = split_range(fractions, src->num_documents(), carve);
    auto [u0, u1] = src->units_of(d0, d1);
    parts.push_back(std::make_unique<SampleIndex>(src, u0, u1, T, mix(split_seed, i), vocab_size, split_name(split)));
    weights.push_back(ds.weight);
    total += ds.weight;
  }
  for (auto& w : weights) w /= total;
  return std::make_unique<DatasetLoader>(std::move(parts), std::move(weights), B, T, dp_rank, dp_size, seed);
}

}  // namespace primus::data
