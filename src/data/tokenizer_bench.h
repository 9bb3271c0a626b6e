// `primus benchmark tokenizer`: encoding throughput of a tokenizer on a corpus, on one thread
// (first pass with an empty pre-token cache, then the best warm pass) and on all threads.
// MB/s counts input bytes (1 MB = 1e6 bytes).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/documents.h"

namespace primus::data {

struct TokenizerBenchOptions {
  std::string tokenizer;              // tokenizer.json
  std::vector<std::string> inputs;    // corpus files, folders or globs
  InputOptions input{DocBoundary::kBlankLine, "text"};
  int threads = 0;                    // for the all-threads row; 0 = all cores
  int repeats = 3;                    // warm passes; the best is reported
  int64_t max_bytes = int64_t{256} << 20;   // stop reading the corpus past this many bytes
};

struct TokenizerBenchRow {
  std::string name;                   // "1 thread, cold cache", "1 thread", "16 threads"
  int threads = 1;
  int64_t bytes = 0, tokens = 0, documents = 0;
  double seconds = 0, mb_per_s = 0;
};

std::vector<TokenizerBenchRow> tokenizer_bench_run(const TokenizerBenchOptions& options);

}  // namespace primus::data
