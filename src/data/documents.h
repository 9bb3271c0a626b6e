// Reading raw corpora: input paths (files, folders, globs) are expanded in sorted order, and each
// file is cut into documents: plain text one per file, per blank-line-separated block or per line;
// JSONL one per line, the text under a key.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace primus::data {

enum class DocBoundary { kFile, kBlankLine, kLine };
DocBoundary parse_doc_boundary(const std::string& name);   // file | blank-line | line

struct InputOptions {
  DocBoundary boundary = DocBoundary::kFile;   // plain text files
  std::string jsonl_key = "text";              // JSONL files (.jsonl, .ndjson, .json)
};

// Files named by paths/globs/folders, sorted, deduplicated; throws primus::Error if none match.
std::vector<std::string> expand_inputs(const std::vector<std::string>& patterns);
bool is_jsonl(const std::string& path);

// Documents of one file's contents (views into `content`). For JSONL the views are whole lines
// (blank lines dropped); jsonl_text() extracts a line's text.
std::vector<std::string_view> split_documents(std::string_view content, bool jsonl, DocBoundary boundary);
// The string under `key` of one JSONL line; throws primus::Error naming file and line.
std::string jsonl_text(std::string_view line, const std::string& key, const std::string& file, int64_t line_no);

}  // namespace primus::data
