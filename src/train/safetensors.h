// Hugging Face safetensors files: an 8-byte little-endian header length, a JSON header mapping
// each tensor name to {dtype, shape, data_offsets} (plus optional "__metadata__" strings), then the
// raw little-endian data. The reader maps the file and validates every entry against its size
// (errors name the file); the writer streams through AtomicFile. F32, BF16 and F16 are read as fp32.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace primus::train {

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  size_t begin = 0, end = 0;   // byte range inside the data section
  int64_t numel() const;
};

class SafetensorsReader {
 public:
  explicit SafetensorsReader(const std::string& path);   // throws primus::Error naming the file
  ~SafetensorsReader();
  SafetensorsReader(const SafetensorsReader&) = delete;
  SafetensorsReader& operator=(const SafetensorsReader&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const SafetensorsEntry* find(const std::string& name) const;   // nullptr when absent
  const SafetensorsEntry& at(const std::string& name) const;     // throws naming file and tensor
  // Elements [first, first + count) of a tensor, converted to fp32.
  void read_f32(const SafetensorsEntry& e, float* out, int64_t first = 0, int64_t count = -1) const;
  std::vector<float> read_f32(const std::string& name) const;
  const void* raw(const SafetensorsEntry& e) const { return data_ + e.begin; }

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  const char* data_ = nullptr;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsEntry> entries_;
};

// Collects tensors (the caller keeps their memory alive until write()) and writes one file.
class SafetensorsWriter {
 public:
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  void write(const std::string& path) const;   // atomic

 private:
  struct Item {
    SafetensorsEntry entry;
    const void* data;
  };
  std::vector<Item> items_;
  std::map<std::string, std::string> metadata_;
};

std::string safetensors_dtype_name(DType dtype);   // "F32", "BF16", ...

}  // namespace primus::train
