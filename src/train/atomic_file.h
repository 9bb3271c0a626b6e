// Crash-safe file writes: data goes to a temporary name beside the target, is fsync'ed, renamed
// over the target, and the directory is fsync'ed, so a reader sees either the old file or the
// whole new one. A writer destroyed before commit() removes its temporary file.
#pragma once
#include <cstdio>
#include <string>
#include <string_view>

namespace primus::train {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);   // opens <path>.tmp.<pid>; throws primus::Error
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, size_t bytes);
  void write(std::string_view text) { write(text.data(), text.size()); }
  void commit();                            // fsync, rename over the target, fsync the directory

 private:
  std::string path_, tmp_path_;
  std::FILE* file_ = nullptr;
};

void write_file_atomic(const std::string& path, std::string_view content);
// fsync a directory so that renames inside it survive a crash.
void fsync_dir(const std::string& dir);
std::string read_file(const std::string& path);   // whole file; throws primus::Error naming it

}  // namespace primus::train
