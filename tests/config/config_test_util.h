// Helpers for the config tests: a scratch folder that writes files, and a check that loading throws
// a usage error (exit code 2) whose message contains given fragments.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "config/loader.h"
#include "core/error.h"

namespace primus::config::testing {

class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("primus-config-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  // Writes `text` to <dir>/<name> (creating subfolders) and returns the full path.
  std::string write(const std::string& name, const std::string& text) const {
    std::filesystem::path file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file.string();
  }
  std::string path() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The message of the usage error thrown by loading `path`, or "" (and a test failure) if none is.
inline std::string load_error(const std::string& path, const std::vector<std::string>& overrides = {}) {
  try {
    load_experiment(path, overrides);
  } catch (const primus::Error& e) {
    EXPECT_EQ(e.exit_code(), 2) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "loading " << path << " did not throw";
  return "";
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::string source_path(const std::string& relative) { return std::string(PRIMUS_SOURCE_DIR) + "/" + relative; }

// A minimal valid experiment body to append keys to.
inline const char* kMinimalYaml =
    "exp_name: t\n"
    "model: {preset: gpt2-tiny}\n"
    "data: {mock: true}\n"
    "train: {micro_batch_size: 2, global_batch_size: 4, seq_len: 32, steps: 10}\n";

}  // namespace primus::config::testing
