// Helpers for the data tests: a fresh temporary folder per test, small file I/O, running a
// command, and finding the Python peers.
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace primus::data::test {

// Folders made by temp_dir(), removed when the test program exits (kept with PRIMUS_KEEP_TEMP=1).
inline std::vector<std::filesystem::path>& temp_dirs() {
  static std::vector<std::filesystem::path> dirs;
  static const bool registered = [] {
    std::atexit([] {
      if (std::getenv("PRIMUS_KEEP_TEMP")) return;
      std::error_code ec;
      for (const auto& d : temp_dirs()) std::filesystem::remove_all(d, ec);
    });
    return true;
  }();
  (void)registered;
  return dirs;
}

inline std::filesystem::path temp_dir(const std::string& name) {
  auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::temp_directory_path() /
             (std::string("primus_data_") + info->test_suite_name() + "_" + info->name() + "_" + name + "_" +
              std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  temp_dirs().push_back(dir);
  return dir;
}

inline void write_bytes(const std::filesystem::path& p, const std::string& content) {
  std::ofstream f(p, std::ios::binary);
  f << content;
}

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs a shell command; returns its exit status and fills `output` with stdout+stderr.
inline int run(const std::string& cmd, std::string* output = nullptr) {
  std::string full = cmd + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) return -1;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  if (output) *output = out;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

inline std::string venv_python() {
  auto p = std::filesystem::path(PRIMUS_SOURCE_DIR) / ".venv/bin/python";
  return std::filesystem::exists(p) ? p.string() : std::string();
}

inline std::string fixture(const std::string& name) {
  return (std::filesystem::path(PRIMUS_SOURCE_DIR) / "tests/data/fixtures" / name).string();
}

}  // namespace primus::data::test
