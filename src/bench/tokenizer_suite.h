// `primus benchmark tokenizer` in the benchmark frame: data::tokenizer_bench_run's rows as a
// Report (metric MB/s of input text).
#pragma once
#include "bench/report.h"
#include "data/tokenizer_bench.h"

namespace primus::bench {

Report tokenizer_report(const data::TokenizerBenchOptions& options);

}  // namespace primus::bench
