// GPT-2's byte-to-Unicode alphabet and strict UTF-8 scanning (see byte_level.h).
#include "data/byte_level.h"

namespace primus::data {

namespace {

struct Tables {
  std::array<uint32_t, 256> cp{};
  std::array<std::string, 256> sym;
  std::array<int, 324> inverse{};
  Tables() {
    // Printable Latin-1 bytes keep their code point; the others are moved to 256, 257, ...
    bool printable[256] = {};
    for (int b = '!'; b <= '~'; ++b) printable[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) cp[b] = printable[b] ? static_cast<uint32_t>(b) : next++;
    inverse.fill(-1);
    for (int b = 0; b < 256; ++b) {
      utf8_append(sym[b], cp[b]);
      inverse[cp[b]] = b;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::array<uint32_t, 256>& byte_to_codepoint() { return tables().cp; }
const std::array<std::string, 256>& byte_to_symbol() { return tables().sym; }

int byte_from_codepoint(uint32_t cp) { return cp < 324 ? tables().inverse[cp] : -1; }

std::string bytes_to_symbols(std::string_view bytes) {
  const auto& sym = byte_to_symbol();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) out += sym[c];
  return out;
}

bool symbols_to_bytes(std::string_view symbols, std::string& out) {
  size_t i = 0;
  while (i < symbols.size()) {
    int len = utf8_sequence_length(symbols, i);
    if (len == 0) return false;
    uint32_t cp = 0;
    auto c0 = static_cast<unsigned char>(symbols[i]);
    if (len == 1) cp = c0;
    else if (len == 2) cp = ((c0 & 0x1Fu) << 6) | (static_cast<unsigned char>(symbols[i + 1]) & 0x3Fu);
    else return false;  // every symbol of the alphabet is below U+0800
    int b = byte_from_codepoint(cp);
    if (b < 0) return false;
    out.push_back(static_cast<char>(b));
    i += static_cast<size_t>(len);
  }
  return true;
}

int utf8_sequence_length(std::string_view text, size_t i) {
  auto at = [&](size_t k) -> unsigned { return static_cast<unsigned char>(text[k]); };
  const size_t n = text.size();
  unsigned c = at(i);
  if (c < 0x80) return 1;
  auto cont = [&](size_t k) { return k < n && (at(k) & 0xC0u) == 0x80u; };
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    unsigned c1 = at(i + 1);
    if (c == 0xE0 && c1 < 0xA0) return 0;   // overlong
    if (c == 0xED && c1 >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    unsigned c1 = at(i + 1);
    if (c == 0xF0 && c1 < 0x90) return 0;   // overlong
    if (c == 0xF4 && c1 >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

bool utf8_valid(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    int len = utf8_sequence_length(text, i);
    if (len == 0) return false;
    i += static_cast<size_t>(len);
  }
  return true;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace primus::data
