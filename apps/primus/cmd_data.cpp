// `primus data prepare | train-tokenizer | inspect`: the data pipeline's commands. The work lives
// in src/data; this file parses options and prints progress and summaries.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "apps/primus/commands.h"
#include "core/error.h"
#include "core/timer.h"
#include "data/bpe_trainer.h"
#include "data/documents.h"
#include "data/file_util.h"
#include "data/indexed_dataset.h"
#include "data/prepare.h"
#include "data/tokenizer.h"

namespace primus::app {
namespace {

struct PrepareArgs {
  data::PrepareOptions opt;
  std::string boundary = "file", progress = "auto";
  bool no_eos = false;
};

void prepare_command(PrepareArgs& a) {
  a.opt.input.boundary = data::parse_doc_boundary(a.boundary);
  a.opt.append_eos = !a.no_eos;
  const bool bar = a.progress == "on" || (a.progress == "auto" && ::isatty(2));
  Timer timer;
  auto progress = [&](int64_t done, int64_t total) {
    if (!bar) return;
    double pct = total > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0;
    std::fprintf(stderr, "\rprepare: %5.1f%%  %.1f / %.1f MB  %.1f MB/s   ", pct, static_cast<double>(done) / 1e6,
                 static_cast<double>(total) / 1e6, static_cast<double>(done) / 1e6 / std::max(timer.seconds(), 1e-9));
  };
  auto s = data::prepare_dataset(a.opt, progress);
  if (bar) std::fprintf(stderr, "\n");
  std::printf("prepared %lld documents, %lld tokens from %lld file(s), %.1f MB in %.2f s (%.1f MB/s, %.2f bytes/token)\n",
              static_cast<long long>(s.documents), static_cast<long long>(s.tokens), static_cast<long long>(s.files),
              static_cast<double>(s.bytes) / 1e6, s.seconds, static_cast<double>(s.bytes) / 1e6 / std::max(s.seconds, 1e-9),
              static_cast<double>(s.bytes) / static_cast<double>(std::max<int64_t>(s.tokens, 1)));
  if (s.skipped_empty > 0) std::printf("skipped %lld empty documents\n", static_cast<long long>(s.skipped_empty));
  for (size_t i = 0; i < s.outputs.size(); ++i)
    std::printf("wrote %s (%lld documents)\n", s.outputs[i].c_str(), static_cast<long long>(s.split_documents[i]));
}

struct TrainTokenizerArgs {
  std::vector<std::string> inputs;
  std::string output, boundary = "blank-line", jsonl_key = "text";
  data::BpeTrainerOptions opt;
};

void train_tokenizer_command(const TrainTokenizerArgs& a) {
  Timer timer;
  data::BpeTrainer trainer(a.opt);
  const auto boundary = data::parse_doc_boundary(a.boundary);
  int64_t bytes = 0;
  for (const auto& file : data::expand_inputs(a.inputs)) {
    std::string content = data::read_file(file);
    bool jsonl = data::is_jsonl(file);
    auto docs = data::split_documents(content, jsonl, boundary);
    std::vector<std::string> texts;
    if (jsonl) {
      for (size_t i = 0; i < docs.size(); ++i) texts.push_back(data::jsonl_text(docs[i], a.jsonl_key, file, static_cast<int64_t>(i) + 1));
      docs.assign(texts.begin(), texts.end());
    }
    trainer.count(docs);
    bytes += static_cast<int64_t>(content.size());
  }
  if (bytes == 0) throw Error("the training corpus is empty", "give --input files with text");
  auto tok = trainer.train();
  tok.save(a.output);
  std::printf("trained a %lld-token vocabulary on %.1f MB (%lld distinct pre-tokens) in %.2f s -> %s\n",
              static_cast<long long>(tok.vocab_size()), static_cast<double>(bytes) / 1e6,
              static_cast<long long>(trainer.unique_words()), timer.seconds(), a.output.c_str());
}

struct InspectArgs {
  std::string prefix, tokenizer;
  int64_t vocab_size = 0, docs = 2, sample_tokens = 64;
};

void inspect_command(const InspectArgs& a) {
  std::optional<data::Tokenizer> tok;
  if (!a.tokenizer.empty()) tok.emplace(data::Tokenizer::load(a.tokenizer));
  const int64_t vocab = a.vocab_size > 0 ? a.vocab_size : tok ? tok->vocab_size() : 0;
  std::vector<std::vector<int32_t>> samples;
  int64_t tokens = 0, max_id = -1;
  auto scan = [&](const int32_t* p, int64_t n, const std::string& file) {
    for (int64_t i = 0; i < n; ++i) {
      max_id = std::max<int64_t>(max_id, p[i]);
      if (vocab > 0 && p[i] >= vocab)
        throw Error(fmt::format("{}: token id {} is outside the vocabulary (size {})", file, p[i], vocab),
                    "the dataset was prepared with a different tokenizer");
    }
  };
  if (data::IndexedDataset::exists(a.prefix)) {
    data::IndexedDataset ds(a.prefix);
    std::printf("format: megatron indexed dataset (%s.bin + .idx), dtype %s\n", a.prefix.c_str(),
                ds.dtype() == data::TokenDType::kUInt16 ? "uint16" : "int32");
    int64_t lo = INT64_MAX, hi = 0;
    std::vector<int32_t> buf;
    for (int64_t s = 0; s < ds.num_sequences(); ++s) {
      int64_t n = ds.sequence_length(s);
      lo = std::min(lo, n);
      hi = std::max(hi, n);
      buf.resize(static_cast<size_t>(n));
      ds.read(s, 0, n, buf.data());
      scan(buf.data(), n, ds.bin_path());
      if (static_cast<int64_t>(samples.size()) < a.docs) samples.push_back(buf);
    }
    tokens = ds.num_tokens();
    std::printf("documents: %lld  sequences: %lld  tokens: %lld\n", static_cast<long long>(ds.num_documents()),
                static_cast<long long>(ds.num_sequences()), static_cast<long long>(tokens));
    std::printf("tokens per document: min %lld  mean %.1f  max %lld\n", static_cast<long long>(lo),
                static_cast<double>(tokens) / static_cast<double>(std::max<int64_t>(ds.num_sequences(), 1)),
                static_cast<long long>(hi));
  } else {
    std::string path = std::filesystem::is_regular_file(a.prefix) ? a.prefix : a.prefix + ".bin";
    if (!std::filesystem::is_regular_file(path))
      throw Error(fmt::format("no dataset at {} (no .bin/.idx pair, no llm.c shard)", a.prefix));
    data::LlmcShard sh(path);
    std::printf("format: llm.c shard (%s), %s tokens\n", path.c_str(), sh.dtype() == data::TokenDType::kUInt16 ? "uint16" : "uint32");
    std::vector<int32_t> buf(static_cast<size_t>(sh.num_tokens()));
    sh.read(0, sh.num_tokens(), buf.data());
    scan(buf.data(), sh.num_tokens(), path);
    tokens = sh.num_tokens();
    if (a.docs > 0) samples.emplace_back(buf.begin(), buf.begin() + std::min<int64_t>(tokens, a.sample_tokens * 4));
    std::printf("tokens: %lld\n", static_cast<long long>(tokens));
  }
  std::printf("largest token id: %lld%s\n", static_cast<long long>(max_id),
              vocab > 0 ? fmt::format(" (vocabulary {}: all ids valid)", vocab).c_str() : "");
  std::printf("verified: ok\n");
  for (size_t i = 0; i < samples.size(); ++i) {
    auto& s = samples[i];
    size_t n = std::min<size_t>(s.size(), static_cast<size_t>(a.sample_tokens));
    std::string ids;
    for (size_t k = 0; k < std::min<size_t>(n, 16); ++k) ids += fmt::format("{} ", s[k]);
    std::printf("document %zu: %zu tokens, first ids: %s%s\n", i, s.size(), ids.c_str(), n > 16 ? "..." : "");
    if (tok) std::printf("  text: %s\n", fmt::format("{:?}", tok->decode(std::span(s.data(), n))).c_str());
  }
}

}  // namespace

void add_data_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("data", "prepare token datasets, train tokenizers, inspect datasets");
  cmd->require_subcommand(1);

  static PrepareArgs prep;
  auto* p = cmd->add_subcommand("prepare", "tokenize a corpus into a Megatron (.bin/.idx) or llm.c dataset");
  p->add_option("--input", prep.opt.inputs, "text or JSONL files, folders or globs")->required();
  p->add_option("--tokenizer", prep.opt.tokenizer, "tokenizer.json (or a vocab.json + merges.txt folder)")->required();
  p->add_option("--output", prep.opt.output, "output PREFIX (PREFIX.bin/.idx; with --split PREFIX/train ...)")->required();
  p->add_option("--format", prep.opt.format, "megatron | llmc")->capture_default_str();
  p->add_option("--jsonl-key", prep.opt.input.jsonl_key, "JSONL field holding the text")->capture_default_str();
  p->add_option("--doc-boundary", prep.boundary, "plain text documents: file | blank-line | line")->capture_default_str();
  p->add_option("--workers", prep.opt.workers, "encoding threads (0 = all cores)")->capture_default_str();
  p->add_option("--split", prep.opt.split, "deal documents to PREFIX/train,valid,test, e.g. 98,1,1");
  p->add_flag("--no-eos", prep.no_eos, "do not put an EOS token between documents");
  p->add_option("--progress", prep.progress, "progress bar: auto | on | off")->capture_default_str();
  p->callback([] { prepare_command(prep); });

  static TrainTokenizerArgs tt;
  auto* t = cmd->add_subcommand("train-tokenizer", "train a byte-level BPE tokenizer, saved as tokenizer.json");
  t->add_option("--input", tt.inputs, "text or JSONL files, folders or globs")->required();
  t->add_option("--vocab-size", tt.opt.vocab_size, "vocabulary size, bytes and special tokens included")->capture_default_str();
  t->add_option("--output", tt.output, "tokenizer.json to write")->required();
  t->add_option("--pattern", tt.opt.pattern, "pre-tokenizer split: gpt2 | llama3")->capture_default_str();
  t->add_option("--special", tt.opt.special_tokens, "special tokens (the first is EOS)")->capture_default_str();
  t->add_option("--min-frequency", tt.opt.min_frequency, "pairs seen fewer times are not merged")->capture_default_str();
  t->add_option("--doc-boundary", tt.boundary, "plain text documents: file | blank-line | line")->capture_default_str();
  t->add_option("--jsonl-key", tt.jsonl_key, "JSONL field holding the text")->capture_default_str();
  t->callback([] { train_tokenizer_command(tt); });

  static InspectArgs in;
  auto* i = cmd->add_subcommand("inspect", "verify a dataset and print its documents, token counts and a sample");
  i->add_option("prefix", in.prefix, "PREFIX of PREFIX.bin/.idx, or an llm.c shard")->required();
  i->add_option("--tokenizer", in.tokenizer, "decode a sample with this tokenizer");
  i->add_option("--vocab-size", in.vocab_size, "check every token id against this vocabulary size");
  i->add_option("--docs", in.docs, "documents to show")->capture_default_str();
  i->add_option("--sample-tokens", in.sample_tokens, "tokens to decode per document")->capture_default_str();
  i->callback([] { inspect_command(in); });
}

}  // namespace primus::app
