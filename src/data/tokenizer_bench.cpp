// Tokenizer throughput benchmark (see tokenizer_bench.h).
#include "data/tokenizer_bench.h"

#include <omp.h>

#include <algorithm>

#include "core/error.h"
#include "core/timer.h"
#include "data/file_util.h"
#include "data/tokenizer.h"

namespace primus::data {

namespace {

TokenizerBenchRow pass(const Tokenizer& tok, const std::vector<std::string>& docs, int threads, std::string name) {
  TokenizerBenchRow row;
  row.name = std::move(name);
  row.threads = threads;
  row.documents = static_cast<int64_t>(docs.size());
  int64_t tokens = 0, bytes = 0;
  Timer timer;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16) reduction(+ : tokens, bytes)
  for (size_t i = 0; i < docs.size(); ++i) {
    tokens += static_cast<int64_t>(tok.encode(docs[i]).size());
    bytes += static_cast<int64_t>(docs[i].size());
  }
  row.seconds = timer.seconds();
  row.tokens = tokens;
  row.bytes = bytes;
  row.mb_per_s = row.seconds > 0 ? static_cast<double>(bytes) / 1e6 / row.seconds : 0;
  return row;
}

}  // namespace

std::vector<TokenizerBenchRow> tokenizer_bench_run(const TokenizerBenchOptions& opt) {
  if (opt.tokenizer.empty()) throw usage_error("no tokenizer to benchmark", "give --tokenizer tokenizer.json");
  std::vector<std::string> docs;
  int64_t total = 0;
  for (const auto& file : expand_inputs(opt.inputs)) {
    if (total >= opt.max_bytes) break;
    std::string content = read_file(file);
    bool jsonl = is_jsonl(file);
    int64_t line = 0;
    for (auto d : split_documents(content, jsonl, opt.input.boundary)) {
      docs.push_back(jsonl ? jsonl_text(d, opt.input.jsonl_key, file, ++line) : std::string(d));
      total += static_cast<int64_t>(docs.back().size());
      if (total >= opt.max_bytes) break;
    }
  }
  if (total == 0) throw Error("the benchmark corpus is empty", "give --input files with text");
  const int all = opt.threads > 0 ? opt.threads : omp_get_max_threads();
  std::vector<TokenizerBenchRow> rows;
  {
    const Tokenizer cold = Tokenizer::load(opt.tokenizer);   // a fresh tokenizer starts with empty caches
    rows.push_back(pass(cold, docs, 1, "1 thread, cold cache"));
  }
  const Tokenizer tok = Tokenizer::load(opt.tokenizer);
  auto best = [&](int threads, std::string name) {
    TokenizerBenchRow b;
    for (int r = 0; r < std::max(1, opt.repeats); ++r) {
      auto row = pass(tok, docs, threads, name);
      if (r == 0 || row.seconds < b.seconds) b = row;
    }
    return b;
  };
  rows.push_back(best(1, "1 thread"));
  if (all > 1) rows.push_back(best(all, fmt::format("{} threads", all)));
  return rows;
}

}  // namespace primus::data
