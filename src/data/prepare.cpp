// Dataset preparation (see prepare.h): files are read one at a time, cut into documents, encoded
// in batches by an OpenMP team, and appended in document order to the split's writer.
#include "data/prepare.h"

#include <omp.h>

#include <cmath>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "data/file_util.h"
#include "data/indexed_dataset.h"
#include "data/loader.h"
#include "data/tokenizer.h"

namespace primus::data {

namespace {

constexpr size_t kBatchDocs = 4096;
constexpr size_t kBatchBytes = size_t{16} << 20;

// One output (a split): either writer kind behind one interface.
struct Output {
  std::string name;
  std::unique_ptr<IndexedDatasetWriter> megatron;
  std::unique_ptr<LlmcShardWriter> llmc;
  int64_t documents = 0;
  void add(std::span<const int32_t> doc) {
    if (megatron) megatron->add_document(doc);
    else llmc->add_tokens(doc);
    ++documents;
  }
};

}  // namespace

PrepareSummary prepare_dataset(const PrepareOptions& opt, const std::function<void(int64_t, int64_t)>& progress) {
  if (opt.format != "megatron" && opt.format != "llmc")
    throw usage_error(fmt::format("unknown dataset format '{}'", opt.format), "use megatron or llmc");
  if (opt.output.empty()) throw usage_error("no output prefix", "give --output PREFIX");
  Timer timer;
  const auto files = expand_inputs(opt.inputs);
  const Tokenizer tok = Tokenizer::load(opt.tokenizer);
  const int workers = opt.workers > 0 ? opt.workers : omp_get_max_threads();
  const int32_t eos = opt.append_eos ? tok.eos_id() : -1;
  if (opt.append_eos && eos < 0) log_warn("the tokenizer has no EOS token; documents are not separated");
  const int32_t bos = tok.adds_bos() ? tok.bos_id() : -1;
  const bool llmc = opt.format == "llmc";

  std::array<double, 3> fractions{1, 0, 0};
  std::vector<std::pair<Split, std::string>> targets;
  if (opt.split.empty()) {
    targets.push_back({Split::kTrain, opt.output});
  } else {
    fractions = parse_split(opt.split);
    for (Split s : {Split::kTrain, Split::kValid, Split::kTest})
      if (fractions[static_cast<size_t>(s)] > 0) targets.push_back({s, opt.output + "/" + split_name(s)});
  }
  std::vector<Output> outs(3);
  for (auto& [s, path] : targets) {
    auto& o = outs[static_cast<size_t>(s)];
    o.name = llmc ? path + ".bin" : path;
    if (llmc) o.llmc = std::make_unique<LlmcShardWriter>(o.name, tok.vocab_size() <= 65536 ? TokenDType::kUInt16 : TokenDType::kUInt32);
    else o.megatron = std::make_unique<IndexedDatasetWriter>(path, megatron_dtype_for_vocab(tok.vocab_size()));
  }

  PrepareSummary sum;
  sum.files = static_cast<int64_t>(files.size());
  int64_t total_bytes = 0;
  for (const auto& f : files) total_bytes += static_cast<int64_t>(std::filesystem::file_size(f));
  int64_t done_bytes = 0, doc_counter = 0;
  std::vector<std::vector<int32_t>> encoded;
  for (const auto& file : files) {
    const std::string content = read_file(file);
    const bool jsonl = is_jsonl(file);
    const auto docs = split_documents(content, jsonl, opt.input.boundary);
    for (size_t start = 0; start < docs.size();) {
      size_t end = start, bytes = 0;
      while (end < docs.size() && end - start < kBatchDocs && bytes < kBatchBytes) bytes += docs[end++].size();
      encoded.resize(end - start);
      std::string first_error;
#pragma omp parallel for num_threads(workers) schedule(dynamic, 8)
      for (size_t i = start; i < end; ++i) {
        auto& ids = encoded[i - start];
        ids.clear();
        try {
          if (bos >= 0) ids.push_back(bos);
          if (llmc && eos >= 0) ids.push_back(eos);
          if (jsonl) tok.encode_append(jsonl_text(docs[i], opt.input.jsonl_key, file, static_cast<int64_t>(i) + 1), ids);
          else tok.encode_append(docs[i], ids);
          if (!llmc && eos >= 0) ids.push_back(eos);
          const size_t markers = (bos >= 0) + (eos >= 0);
          if (ids.size() == markers) ids.clear();   // an empty document is skipped, markers and all
        } catch (const std::exception& e) {
#pragma omp critical(prepare_error)
          if (first_error.empty()) first_error = e.what();
        }
      }
      if (!first_error.empty()) throw Error(first_error);
      for (auto& ids : encoded) {
        if (ids.empty()) {
          ++sum.skipped_empty;
          continue;
        }
        // Low-discrepancy dealing: the golden-ratio sequence fills each split to its fraction.
        double x = std::fmod(static_cast<double>(doc_counter++) * 0.6180339887498949, 1.0);
        size_t s = x < fractions[0] ? 0 : x < fractions[0] + fractions[1] ? 1 : 2;
        if (!outs[s].megatron && !outs[s].llmc) s = outs[0].megatron || outs[0].llmc ? 0 : s;
        outs[s].add(ids);
        sum.tokens += static_cast<int64_t>(ids.size());
        ++sum.documents;
      }
      done_bytes += static_cast<int64_t>(bytes);
      if (progress) progress(done_bytes, total_bytes);
      start = end;
    }
    sum.bytes += static_cast<int64_t>(content.size());
  }
  if (sum.documents == 0)
    throw Error(fmt::format("no documents in the input ({} file(s), all empty)", files.size()),
                "check --input and the document boundary");
  for (auto& [s, path] : targets)
    if (outs[static_cast<size_t>(s)].documents == 0)
      throw Error(fmt::format("the {} split of {} would be empty ({} documents in all)", split_name(s), opt.output, sum.documents),
                  "use more documents, a finer --doc-boundary, or another --split");
  for (auto& [s, path] : targets) {
    auto& o = outs[static_cast<size_t>(s)];
    if (o.megatron) o.megatron->finish();
    else o.llmc->finish();
    sum.outputs.push_back(o.name);
    sum.split_documents.push_back(o.documents);
  }
  sum.seconds = timer.seconds();
  return sum;
}

}  // namespace primus::data
