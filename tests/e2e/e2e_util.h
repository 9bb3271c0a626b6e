// Helpers for end-to-end tests that drive the primus binary (PRIMUS_EXE) through a shell.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>

namespace primus::e2e {

struct Cmd {
  int rc = -1;
  std::string out;   // stdout and stderr together
};

// Runs `primus <args>` in `cwd` through /bin/sh.
inline Cmd primus(const std::string& args, const std::string& cwd = ".") {
  const std::string command = fmt::format("cd '{}' && '{}' {} 2>&1", cwd, PRIMUS_EXE, args);
  Cmd r;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::filesystem::path fresh_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / fmt::format("primus_e2e_{}_{}", name, ::getpid());
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

inline void write_text(const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; }

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace primus::e2e
