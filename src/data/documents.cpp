// Corpus inputs and document boundaries (see documents.h).
#include "data/documents.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace primus::data {

namespace fs = std::filesystem;

DocBoundary parse_doc_boundary(const std::string& name) {
  if (name == "file") return DocBoundary::kFile;
  if (name == "blank-line") return DocBoundary::kBlankLine;
  if (name == "line") return DocBoundary::kLine;
  throw usage_error(fmt::format("unknown document boundary '{}'", name), "use file, blank-line or line");
}

std::vector<std::string> expand_inputs(const std::vector<std::string>& patterns) {
  std::vector<std::string> files;
  for (const auto& pat : patterns) {
    if (fs::is_directory(pat)) {
      for (const auto& e : fs::directory_iterator(pat))
        if (e.is_regular_file()) files.push_back(e.path().string());
      continue;
    }
    if (fs::is_regular_file(pat)) {
      files.push_back(pat);
      continue;
    }
    glob_t g{};
    int rc = ::glob(pat.c_str(), 0, nullptr, &g);
    size_t before = files.size();
    if (rc == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i)
        if (fs::is_regular_file(g.gl_pathv[i])) files.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    if (files.size() == before)
      throw Error(fmt::format("no input file matches '{}'", pat), "check the path; quote globs so the shell leaves them");
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  if (files.empty()) throw Error("no input files", "give --input FILES|GLOBS|FOLDERS");
  return files;
}

bool is_jsonl(const std::string& path) {
  auto ext = fs::path(path).extension().string();
  return ext == ".jsonl" || ext == ".ndjson" || ext == ".json";
}

std::vector<std::string_view> split_documents(std::string_view content, bool jsonl, DocBoundary boundary) {
  std::vector<std::string_view> docs;
  if (!jsonl && boundary == DocBoundary::kFile) {
    if (!content.empty()) docs.push_back(content);
    return docs;
  }
  auto blank = [](std::string_view line) {
    return line.find_first_not_of(" \t\r") == std::string_view::npos;
  };
  size_t pos = 0, block_start = std::string_view::npos, block_end = 0;
  while (pos < content.size()) {
    size_t end = content.find('\n', pos);
    size_t next = end == std::string_view::npos ? content.size() : end + 1;
    std::string_view line = content.substr(pos, (end == std::string_view::npos ? content.size() : end) - pos);
    if (jsonl || boundary == DocBoundary::kLine) {
      if (!blank(line)) docs.push_back(line);
    } else if (blank(line)) {
      if (block_start != std::string_view::npos) docs.push_back(content.substr(block_start, block_end - block_start));
      block_start = std::string_view::npos;
    } else {
      if (block_start == std::string_view::npos) block_start = pos;
      block_end = next;   // a block keeps its newlines, the last one included
    }
    pos = next;
  }
  if (block_start != std::string_view::npos) docs.push_back(content.substr(block_start, block_end - block_start));
  return docs;
}

std::string jsonl_text(std::string_view line, const std::string& key, const std::string& file, int64_t line_no) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: document {} is not valid JSON: {}", file, line_no, e.what()));
  }
  if (!j.is_object() || !j.contains(key) || !j[key].is_string())
    throw Error(fmt::format("{}: document {} has no string field '{}'", file, line_no, key),
                "choose the field with --jsonl-key");
  return j[key].get<std::string>();
}

}  // namespace primus::data
