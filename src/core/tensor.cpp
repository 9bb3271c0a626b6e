// Shape printing.
#include "core/tensor.h"

#include <fmt/format.h>

namespace primus {

std::string Shape::str() const {
  std::string s = "(";
  for (int i = 0; i < ndim; ++i) s += fmt::format("{}{}", i ? ", " : "", dims[i]);
  return s + ")";
}

}  // namespace primus
