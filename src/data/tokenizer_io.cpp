// Reading and writing tokenizer files: Hugging Face tokenizer.json (BPE model with a ByteLevel
// pre-tokenizer, optionally after a Split regex, as GPT-2 and Llama 3 ship them) and GPT-2's
// vocab.json + merges.txt. BOS/EOS come from tokenizer_config.json beside the file when present.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/byte_level.h"
#include "data/file_util.h"
#include "data/pretokenizer.h"
#include "data/tokenizer.h"

namespace primus::data {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string raw_bytes_of(const std::string& symbols, const std::string& name) {
  std::string raw;
  if (!symbols_to_bytes(symbols, raw))
    throw Error(fmt::format("{}: token '{}' is not in the byte-level alphabet", name, symbols),
                "only byte-level BPE tokenizers (GPT-2, Llama 3 style) are supported");
  return raw;
}

// Fills the vocabulary and merges of `spec` from the byte-level vocab/merges of a file.
void read_model(TokenizerSpec& spec, const json& vocab, const json& merges, const std::string& name,
                std::vector<std::string>& symbol_of_id) {
  if (!vocab.is_object()) throw Error(fmt::format("{}: the BPE vocab is not an object", name));
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) max_id = std::max<int64_t>(max_id, it.value().get<int64_t>());
  spec.vocab.assign(static_cast<size_t>(max_id + 1), std::string());
  symbol_of_id.assign(static_cast<size_t>(max_id + 1), std::string());
  std::unordered_map<std::string, int32_t> id_of;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    auto id = it.value().get<int32_t>();
    if (id < 0) throw Error(fmt::format("{}: negative token id {}", name, id));
    spec.vocab[static_cast<size_t>(id)] = raw_bytes_of(it.key(), name);
    symbol_of_id[static_cast<size_t>(id)] = it.key();
    id_of[it.key()] = id;
  }
  auto lookup = [&](const std::string& s, size_t rank) {
    auto it = id_of.find(s);
    if (it == id_of.end())
      throw Error(fmt::format("{}: merge {} names '{}', which is not in the vocabulary", name, rank, s));
    return it->second;
  };
  spec.merges.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& m = merges[r];
    std::string a, b;
    if (m.is_string()) {
      auto s = m.get<std::string>();
      auto sp = s.find(' ');
      if (sp == std::string::npos) throw Error(fmt::format("{}: merge {} is not 'a b'", name, r));
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      throw Error(fmt::format("{}: merge {} is neither 'a b' nor [a, b]", name, r));
    }
    spec.merges.emplace_back(lookup(a, r), lookup(b, r));
  }
}

void read_pre_tokenizer(TokenizerSpec& spec, const json& pt, const std::string& name) {
  spec.byte_level_regex = false;
  if (pt.is_null()) return;
  std::string type = pt.value("type", "");
  if (type == "Sequence") {
    for (const auto& p : pt.at("pretokenizers")) read_pre_tokenizer(spec, p, name);
    return;
  }
  if (type == "ByteLevel") {
    spec.byte_level_regex = spec.byte_level_regex || pt.value("use_regex", true);
    spec.add_prefix_space = pt.value("add_prefix_space", false);
    return;
  }
  if (type == "Split") {
    const auto& pat = pt.at("pattern");
    if (pat.contains("Regex")) {
      spec.split_pattern = pat["Regex"].get<std::string>();
    } else {
      std::string lit = pat.at("String").get<std::string>(), esc;
      for (char c : lit) {
        if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) esc.push_back('\\');
        esc.push_back(c);
      }
      spec.split_pattern = esc;
    }
    if (pt.value("behavior", "Isolated") != "Isolated" || pt.value("invert", false))
      throw Error(fmt::format("{}: only Split pre-tokenizers with behavior Isolated are supported", name));
    return;
  }
  throw Error(fmt::format("{}: unsupported pre-tokenizer '{}'", name, type),
              "supported: ByteLevel, Split (Isolated), Sequence of these");
}

int32_t config_token_id(const json& cfg, const char* key, const std::vector<AddedToken>& added) {
  if (!cfg.contains(key) || cfg[key].is_null()) return -1;
  std::string content = cfg[key].is_string() ? cfg[key].get<std::string>() : cfg[key].value("content", "");
  for (const auto& a : added)
    if (a.content == content) return a.id;
  return -1;
}

}  // namespace

Tokenizer Tokenizer::from_json(const std::string& json_text, const std::string& name) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", name, e.what()));
  }
  try {
    const auto& model = j.at("model");
    if (model.value("type", "BPE") != "BPE")
      throw Error(fmt::format("{}: model type '{}' is not BPE", name, model.value("type", "")));
    if (j.contains("normalizer") && !j["normalizer"].is_null())
      throw Error(fmt::format("{}: normalizers are not supported (found '{}')", name,
                              j["normalizer"].value("type", "?")),
                  "byte-level BPE tokenizers (GPT-2, Llama 3) have none");
    TokenizerSpec spec;
    std::vector<std::string> symbol_of_id;
    read_model(spec, model.at("vocab"), model.at("merges"), name, symbol_of_id);
    spec.ignore_merges = model.value("ignore_merges", false);
    read_pre_tokenizer(spec, j.value("pre_tokenizer", json()), name);
    for (const auto& a : j.value("added_tokens", json::array())) {
      AddedToken t{a.at("content").get<std::string>(), a.at("id").get<int32_t>(), a.value("special", false)};
      auto idx = static_cast<size_t>(t.id);
      if (idx >= spec.vocab.size()) spec.vocab.resize(idx + 1);
      t.in_vocab = idx < symbol_of_id.size() && !symbol_of_id[idx].empty();
      spec.vocab[idx] = t.content;
      spec.added.push_back(std::move(t));
    }
    // A BOS template overrides the BOS that from_spec guessed from the token names.
    Tokenizer tok = Tokenizer::from_spec(std::move(spec));
    auto post = j.value("post_processor", json());
    if (!post.is_null()) {
      tok.post_processor_json_ = post.dump();
      if (post.value("type", "") == "TemplateProcessing" && !post["single"].empty() &&
          post["single"][0].contains("SpecialToken")) {
        std::string sid = post["single"][0]["SpecialToken"].value("id", "");
        for (const auto& a : tok.added_)
          if (a.content == sid) {
            tok.adds_bos_ = true;
            tok.bos_id_ = a.id;
          }
      }
    }
    return tok;
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: malformed tokenizer: {}", name, e.what()));
  }
}

Tokenizer Tokenizer::load(const std::string& path) {
  fs::path p(path);
  if (!fs::exists(p))
    throw Error(fmt::format("tokenizer not found: {}", path), "give a tokenizer.json or a folder with vocab.json + merges.txt");
  fs::path dir = fs::is_directory(p) ? p : p.parent_path();
  Tokenizer tok = [&] {
    if (fs::is_directory(p) && fs::exists(p / "tokenizer.json")) return from_json(read_file((p / "tokenizer.json").string()), (p / "tokenizer.json").string());
    if (fs::is_directory(p) || p.filename() == "vocab.json") {
      auto vocab_path = (dir / "vocab.json").string(), merges_path = (dir / "merges.txt").string();
      json vocab;
      try {
        vocab = json::parse(read_file(vocab_path));
      } catch (const json::exception& e) {
        throw Error(fmt::format("{}: not valid JSON: {}", vocab_path, e.what()));
      }
      json merges = json::array();
      std::string text = read_file(merges_path), line;
      size_t start = 0;
      while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        line = text.substr(start, end - start);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty() && line.rfind("#version", 0) != 0) merges.push_back(line);
        start = end + 1;
      }
      json j = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
                {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
                {"added_tokens", json::array()}};
      if (vocab.contains("<|endoftext|>"))
        j["added_tokens"].push_back({{"id", vocab["<|endoftext|>"]}, {"content", "<|endoftext|>"}, {"special", true}});
      return from_json(j.dump(), vocab_path);
    }
    return from_json(read_file(path), path);
  }();
  auto cfg_path = dir / "tokenizer_config.json";
  if (fs::exists(cfg_path)) {
    try {
      auto cfg = json::parse(read_file(cfg_path.string()));
      if (int32_t id = config_token_id(cfg, "eos_token", tok.added_); id >= 0) tok.eos_id_ = id;
      if (int32_t id = config_token_id(cfg, "bos_token", tok.added_); id >= 0) tok.bos_id_ = id;
    } catch (const json::exception&) {
      // tokenizer_config.json is optional; a malformed one only loses the BOS/EOS hints.
    }
  }
  return tok;
}

std::string Tokenizer::to_json() const {
  json added = json::array();
  std::vector<bool> is_added(id_bytes_.size(), false), listed(id_bytes_.size(), false);
  for (const auto& a : added_) {
    added.push_back({{"id", a.id}, {"content", a.content}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", a.special}});
    is_added[static_cast<size_t>(a.id)] = true;
    listed[static_cast<size_t>(a.id)] = a.in_vocab;
  }
  json vocab = json::object();
  for (size_t i = 0; i < id_bytes_.size(); ++i) {
    if (is_added[i] && !listed[i]) continue;
    if (!is_added[i] && id_bytes_[i].empty()) continue;
    vocab[is_added[i] ? id_bytes_[i] : bytes_to_symbols(id_bytes_[i])] = i;
  }
  json merges = json::array();
  for (auto [a, b] : merges_)
    merges.push_back(bytes_to_symbols(id_bytes_[static_cast<size_t>(a)]) + " " +
                     bytes_to_symbols(id_bytes_[static_cast<size_t>(b)]));
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space_},
                     {"trim_offsets", true}, {"use_regex", byte_level_regex_}};
  json pre = byte_level;
  if (!split_pattern_.empty())
    pre = {{"type", "Sequence"},
           {"pretokenizers", json::array({{{"type", "Split"}, {"pattern", {{"Regex", split_pattern_}}},
                                           {"behavior", "Isolated"}, {"invert", false}},
                                          byte_level})}};
  json post = post_processor_json_.empty()
                  ? json{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}}
                  : json::parse(post_processor_json_);
  json model = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
                {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", ignore_merges_},
                {"vocab", vocab}, {"merges", merges}};
  json j = {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added},
            {"normalizer", nullptr}, {"pre_tokenizer", pre}, {"post_processor", post},
            {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
            {"model", model}};
  return j.dump(1);
}

void Tokenizer::save(const std::string& path) const { write_file_atomic(path, to_json()); }

}  // namespace primus::data
