// Small file helpers for the data pipeline: whole-file reads and atomic whole-file writes (write to
// PATH.tmp, then rename), so nothing half-written is ever left at PATH.
#pragma once
#include <string>
#include <string_view>

namespace primus::data {

std::string read_file(const std::string& path);                      // throws primus::Error naming it
void write_file_atomic(const std::string& path, std::string_view content);

}  // namespace primus::data

namespace primus::data {

// A read-only memory map of a whole file (an empty file maps to size 0).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);   // throws primus::Error naming the file
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace primus::data
