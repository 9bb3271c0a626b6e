// Crash-safe file writes (see atomic_file.h).
#include "train/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace primus::train {

namespace {
std::string errno_text() { return std::strerror(errno); }
}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_path_ = fmt::format("{}.tmp.{}", path_, static_cast<long>(::getpid()));
  file_ = std::fopen(tmp_path_.c_str(), "wb");
  if (!file_) throw Error(fmt::format("cannot create {}: {}", tmp_path_, errno_text()));
}

AtomicFile::~AtomicFile() {
  if (file_) {
    std::fclose(file_);
    std::remove(tmp_path_.c_str());
  }
}

void AtomicFile::write(const void* data, size_t bytes) {
  PRIMUS_CHECK(file_ != nullptr, "write after commit");
  if (bytes && std::fwrite(data, 1, bytes, file_) != bytes)
    throw Error(fmt::format("cannot write {}: {}", tmp_path_, errno_text()), "is the disk full?");
}

void AtomicFile::commit() {
  PRIMUS_CHECK(file_ != nullptr, "commit twice");
  bool ok = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  std::string why = errno_text();
  std::fclose(file_);
  file_ = nullptr;
  if (!ok || std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    if (ok) why = errno_text();
    std::remove(tmp_path_.c_str());
    throw Error(fmt::format("cannot write {}: {}", path_, why), "is the disk full?");
  }
  fsync_dir(std::filesystem::path(path_).parent_path().string());
}

void write_file_atomic(const std::string& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) throw Error(fmt::format("cannot open directory {}: {}", dir, errno_text()));
  ::fsync(fd);
  ::close(fd);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read {}", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace primus::train
