// PRIMUS_CHECK failure path: print and abort (an invariant of ours broke; nothing to recover).
#include "core/error.h"

#include <cstdio>
#include <cstdlib>

namespace primus {

void check_failed(const char* expr, const char* file, int line, const std::string& message) {
  std::fprintf(stderr, "internal error: check failed: %s at %s:%d%s%s\n", expr, file, line,
               message.empty() ? "" : ": ", message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace primus
