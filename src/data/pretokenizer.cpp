// PCRE2-backed pre-tokenizer (see pretokenizer.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "data/pretokenizer.h"

#include <pcre2.h>

#include "core/error.h"
#include "data/byte_level.h"

namespace primus::data {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct PreTokenizer::Code {
  pcre2_code* re = nullptr;
  ~Code() { pcre2_code_free(re); }
};

PreTokenizer::PreTokenizer(std::string pattern) : pattern_(std::move(pattern)), code_(new Code) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  code_->re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern_.data()), pattern_.size(),
                            PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
  if (!code_->re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    throw Error(fmt::format("cannot compile the pre-tokenizer pattern at offset {}: {}", offset,
                            reinterpret_cast<const char*>(msg)),
                "the tokenizer's Split pattern must be a PCRE2-compatible regex");
  }
  pcre2_jit_compile(code_->re, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT fails
}

PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::split_valid(std::string_view text, std::vector<std::string_view>& out) const {
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_->re, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  const size_t n = text.size();
  while (start < n) {
    int rc = pcre2_match(code_->re, subject, n, start, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) {
      out.push_back(text.substr(start));
      break;
    }
    if (rc < 0) {
      pcre2_match_data_free(md);
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof(msg));
      throw Error(fmt::format("pre-tokenizer match failed at byte {}: {}", start, reinterpret_cast<const char*>(msg)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t b = ov[0], e = ov[1];
    if (b > start) out.push_back(text.substr(start, b - start));
    if (e == b) {  // an empty match: step over one character as a gap
      size_t len = static_cast<size_t>(utf8_sequence_length(text, b));
      if (b >= n) break;
      out.push_back(text.substr(b, len ? len : 1));
      start = b + (len ? len : 1);
      continue;
    }
    out.push_back(text.substr(b, e - b));
    start = e;
  }
  pcre2_match_data_free(md);
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out) const {
  if (utf8_valid(text)) {
    split_valid(text, out);
    return;
  }
  // Match on a copy where each invalid byte is U+FFFD, then map the piece boundaries back.
  std::string clean;
  std::vector<size_t> origin;  // origin[k]: offset in `text` of byte k of `clean`
  clean.reserve(text.size() + 16);
  origin.reserve(text.size() + 16);
  for (size_t i = 0; i < text.size();) {
    int len = utf8_sequence_length(text, i);
    if (len == 0) {
      clean += "\xEF\xBF\xBD";
      origin.insert(origin.end(), {i, i, i});
      ++i;
    } else {
      for (int k = 0; k < len; ++k) {
        clean.push_back(text[i + k]);
        origin.push_back(i + k);
      }
      i += static_cast<size_t>(len);
    }
  }
  origin.push_back(text.size());
  std::vector<std::string_view> pieces;
  split_valid(clean, pieces);
  for (auto p : pieces) {
    size_t b = origin[static_cast<size_t>(p.data() - clean.data())];
    size_t e = origin[static_cast<size_t>(p.data() - clean.data()) + p.size()];
    out.push_back(text.substr(b, e - b));
  }
}

}  // namespace primus::data
