// Sweep parsing (see sweep.h).
#include "bench/sweep.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "core/error.h"

namespace primus::bench {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Error bad_sweep(std::string_view text, std::string_view option, std::string_view why) {
  return usage_error(fmt::format("{}: cannot read '{}' ({})", option, text, why),
                     "give a value (4096), a list (1024,2048) or a range (1024:8192:x2 or 512:2048:+512)");
}

}  // namespace

int64_t size_parse(std::string_view text, std::string_view option) {
  std::string_view s = trim(text);
  if (s.empty()) throw bad_sweep(text, option, "empty value");
  int64_t mult = 1;
  switch (s.back()) {
    case 'k': case 'K': mult = int64_t{1} << 10; s.remove_suffix(1); break;
    case 'm': case 'M': mult = int64_t{1} << 20; s.remove_suffix(1); break;
    case 'g': case 'G': mult = int64_t{1} << 30; s.remove_suffix(1); break;
    default: break;
  }
  if (s.empty()) throw bad_sweep(text, option, "no digits");
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') throw bad_sweep(text, option, "not a whole number");
    if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) throw bad_sweep(text, option, "too large");
    v = v * 10 + (c - '0');
  }
  if (v > std::numeric_limits<int64_t>::max() / mult) throw bad_sweep(text, option, "too large");
  return v * mult;
}

std::vector<int64_t> sweep_parse(std::string_view text, std::string_view option) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view item = trim(text.substr(start, comma == std::string_view::npos ? text.npos : comma - start));
    start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    if (item.empty()) throw bad_sweep(text, option, "empty list item");
    size_t c1 = item.find(':');
    if (c1 == std::string_view::npos) {
      out.push_back(size_parse(item, option));
      continue;
    }
    size_t c2 = item.find(':', c1 + 1);
    if (c2 == std::string_view::npos) throw bad_sweep(text, option, "a range needs start:end:step");
    int64_t lo = size_parse(item.substr(0, c1), option);
    int64_t hi = size_parse(item.substr(c1 + 1, c2 - c1 - 1), option);
    std::string_view step = trim(item.substr(c2 + 1));
    if (lo > hi) throw bad_sweep(text, option, "range start is above its end");
    if (!step.empty() && (step.front() == 'x' || step.front() == '*')) {
      int64_t f = size_parse(step.substr(1), option);
      if (f < 2) throw bad_sweep(text, option, "a multiplicative step must be at least x2");
      if (lo < 1) throw bad_sweep(text, option, "a multiplicative range must start at 1 or more");
      for (int64_t v = lo; v <= hi; v *= f) {
        out.push_back(v);
        if (v > hi / f) break;
      }
    } else {
      if (!step.empty() && step.front() == '+') step.remove_prefix(1);
      int64_t d = size_parse(step, option);
      if (d < 1) throw bad_sweep(text, option, "an additive step must be at least 1");
      for (int64_t v = lo; v <= hi; v += d) out.push_back(v);
    }
  }
  for (int64_t v : out)
    if (v <= 0) throw bad_sweep(text, option, "values must be positive");
  return out;
}

std::string size_label(double value) {
  static const char* kUnits[] = {"", "K", "M", "G", "T"};
  int u = 0;
  while (std::fabs(value) >= 1024.0 && u < 4) {
    value /= 1024.0;
    ++u;
  }
  return fmt::format("{:g}{}", std::round(value * 100.0) / 100.0, kUnits[u]);
}

}  // namespace primus::bench
