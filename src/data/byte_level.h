// Byte-level helpers shared by the tokenizer and its trainer: GPT-2's reversible map from the 256
// byte values to printable Unicode characters (bytes_to_unicode), and strict UTF-8 scanning
// (no overlongs, no surrogates, nothing past U+10FFFF), the same rules PCRE2 and Python apply.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace primus::data {

// The code point GPT-2's byte-level alphabet assigns to each byte value.
const std::array<uint32_t, 256>& byte_to_codepoint();
// The UTF-8 encoding of byte_to_codepoint()[b] for every byte b.
const std::array<std::string, 256>& byte_to_symbol();
// Inverse of byte_to_codepoint for code points below 324; -1 elsewhere.
int byte_from_codepoint(uint32_t cp);

// Byte-level string (the form tokens take in tokenizer.json) of raw bytes, and back. The inverse
// returns false when the string holds a character outside the alphabet.
std::string bytes_to_symbols(std::string_view bytes);
bool symbols_to_bytes(std::string_view symbols, std::string& out);

// Length of the valid UTF-8 sequence starting at text[i], or 0 when the byte there does not start
// one (a lone continuation byte, a truncated or overlong sequence, a surrogate, > U+10FFFF).
int utf8_sequence_length(std::string_view text, size_t i);
bool utf8_valid(std::string_view text);
void utf8_append(std::string& out, uint32_t cp);

}  // namespace primus::data
