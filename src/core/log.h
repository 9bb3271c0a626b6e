// Logging: one line per message to stderr (and optionally to a per-rank file), with a level
// and the rank prefix under several processes. The Logger is an object owned by the caller;
// the free functions write through the process's default logger.
#pragma once
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <string_view>

namespace primus {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

class Logger {
 public:
  Logger() = default;
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;
  void set_level(LogLevel level) { level_ = level; }
  void set_rank(int rank, int world) { rank_ = rank; world_ = world; }
  // Also append every line to `path` (created with its parents); throws primus::Error on failure.
  void open_file(const std::string& path);
  void write(LogLevel level, std::string_view message);
  bool enabled(LogLevel level) const { return level >= level_; }

 private:
  LogLevel level_ = LogLevel::kInfo;
  int rank_ = 0;
  int world_ = 1;
  std::FILE* file_ = nullptr;
};

// The process's logger. Configured once by apps/primus; library code only writes to it.
Logger& default_logger();

template <typename... Args>
void log_info(fmt::format_string<Args...> f, Args&&... args) {
  if (default_logger().enabled(LogLevel::kInfo))
    default_logger().write(LogLevel::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_warn(fmt::format_string<Args...> f, Args&&... args) {
  default_logger().write(LogLevel::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_debug(fmt::format_string<Args...> f, Args&&... args) {
  if (default_logger().enabled(LogLevel::kDebug))
    default_logger().write(LogLevel::kDebug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace primus
