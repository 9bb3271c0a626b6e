// Logger implementation: stderr always, a per-rank file when one is opened.
#include "core/log.h"

#include <filesystem>

#include "core/error.h"

namespace primus {

Logger::~Logger() {
  if (file_) std::fclose(file_);
}

void Logger::open_file(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f) throw Error(fmt::format("cannot open log file '{}'", path), "check the run directory is writable");
  if (file_) std::fclose(file_);
  file_ = f;
}

void Logger::write(LogLevel level, std::string_view message) {
  if (!enabled(level)) return;
  const char* tag = level == LogLevel::kWarn ? "warning: " : level == LogLevel::kError ? "error: " : "";
  std::string line = world_ > 1 ? fmt::format("[rank {}] {}{}\n", rank_, tag, message)
                                : fmt::format("{}{}\n", tag, message);
  std::fputs(line.c_str(), stderr);
  if (file_) {
    std::fputs(line.c_str(), file_);
    std::fflush(file_);
  }
}

Logger& default_logger() {
  static Logger logger;
  return logger;
}

}  // namespace primus
