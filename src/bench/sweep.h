// Sweep values for benchmark options: a value ("4096"), a list ("1024,2048"), a range with a
// multiplicative ("1024:8192:x2") or additive ("512:2048:+512", "512:2048:512") step, or a list of
// these. Values take k/K (x1024), m/M and g/G suffixes. Throws primus::usage_error naming the option.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace primus::bench {

std::vector<int64_t> sweep_parse(std::string_view text, std::string_view option);

// "4096" -> 4096, "4k" -> 4096, "1M" -> 1048576.
int64_t size_parse(std::string_view text, std::string_view option);

// 1536 -> "1.5K", 1048576 -> "1M": compact labels for byte sizes on charts and tables.
std::string size_label(double value);

}  // namespace primus::bench
