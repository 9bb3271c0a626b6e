// Tokenizer benchmark report (see tokenizer_suite.h).
#include "bench/tokenizer_suite.h"

namespace primus::bench {

Report tokenizer_report(const data::TokenizerBenchOptions& options) {
  Report r;
  r.title = "tokenizer";
  r.columns = {{"name", "run"}, {"threads", "threads"}, {"bytes", "bytes"}, {"tokens", "tokens"}, {"documents", "documents"},
               {"seconds", "seconds", 3}, {"mb_per_s", "MB/s", 2}, {"bytes_per_token", "bytes/token", 2}};
  r.key_columns = {"name"};
  r.metric = "mb_per_s";
  for (const auto& row : data::tokenizer_bench_run(options))
    r.rows.push_back({{"name", row.name}, {"threads", row.threads}, {"bytes", row.bytes}, {"tokens", row.tokens},
                      {"documents", row.documents}, {"seconds", row.seconds}, {"mb_per_s", row.mb_per_s},
                      {"bytes_per_token", row.tokens > 0 ? static_cast<double>(row.bytes) / static_cast<double>(row.tokens) : 0.0}});
  r.preamble["tokenizer"] = options.tokenizer;
  return r;
}

}  // namespace primus::bench
