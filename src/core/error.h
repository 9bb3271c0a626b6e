// Errors, one mechanism per kind (see DESIGN.md):
//  - primus::Error for user or environment problems; main() catches it once and exits 2 (usage or
//    configuration) or 1 (runtime), printing the message and the hint.
//  - PRIMUS_CHECK for our own invariants: always on, prints expression, file:line, message, aborts.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace primus {

enum class ErrorKind { kUsage = 2, kRuntime = 1 };

class Error : public std::runtime_error {
 public:
  explicit Error(std::string message, std::string hint = {}, ErrorKind kind = ErrorKind::kRuntime)
      : std::runtime_error(std::move(message)), hint_(std::move(hint)), kind_(kind) {}
  const std::string& hint() const { return hint_; }
  ErrorKind kind() const { return kind_; }
  int exit_code() const { return static_cast<int>(kind_); }

 private:
  std::string hint_;
  ErrorKind kind_;
};

// A configuration or usage error: exit code 2.
inline Error usage_error(std::string message, std::string hint = {}) {
  return Error(std::move(message), std::move(hint), ErrorKind::kUsage);
}

[[noreturn]] void check_failed(const char* expr, const char* file, int line, const std::string& message);

}  // namespace primus

#define PRIMUS_CHECK(cond, ...)                                                              \
  do {                                                                                       \
    if (!(cond)) [[unlikely]]                                                                \
      ::primus::check_failed(#cond, __FILE__, __LINE__, ::fmt::format("" __VA_ARGS__));      \
  } while (0)
