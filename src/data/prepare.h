// `primus data prepare`: tokenize a corpus into a Megatron indexed dataset (PREFIX.bin/.idx) or an
// llm.c shard (PREFIX.bin), with `workers` threads. Each document becomes BOS? + tokens + EOS
// (Megatron: EOS appended, as --append-eod; llm.c: EOS prepended, as llm.c's scripts do). With a
// split "98,1,1" the documents are dealt to PREFIX/train, PREFIX/valid and PREFIX/test by a
// low-discrepancy sequence (deterministic, streaming). Outputs appear only once complete.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/documents.h"

namespace primus::data {

struct PrepareOptions {
  std::vector<std::string> inputs;   // files, folders or globs
  std::string tokenizer;             // tokenizer.json (or a vocab.json + merges.txt folder)
  std::string output;                // PREFIX
  std::string format = "megatron";   // megatron | llmc
  InputOptions input;
  int workers = 0;                   // encoding threads; 0 = all cores
  std::string split;                 // empty = one dataset at PREFIX
  bool append_eos = true;
};

struct PrepareSummary {
  int64_t files = 0, documents = 0, skipped_empty = 0, tokens = 0, bytes = 0;
  double seconds = 0;
  std::vector<std::string> outputs;  // prefixes (megatron) or files (llmc) written
  std::vector<int64_t> split_documents;   // documents per output
};

// progress(bytes_done, bytes_total) is called from the calling thread after each batch.
PrepareSummary prepare_dataset(const PrepareOptions& options,
                               const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace primus::data
