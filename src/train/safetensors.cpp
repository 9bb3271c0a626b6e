// Safetensors reading and writing (see safetensors.h).
#include "train/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "train/atomic_file.h"

namespace primus::train {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;

DType dtype_from_name(const std::string& s, const std::string& path, const std::string& name) {
  if (s == "F32") return DType::kF32;
  if (s == "BF16") return DType::kBF16;
  if (s == "F16") return DType::kF16;
  if (s == "I32") return DType::kI32;
  if (s == "I64") return DType::kI64;
  if (s == "U8") return DType::kU8;
  throw Error(fmt::format("{}: tensor '{}' has unsupported dtype {}", path, name, s));
}

float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // subnormal: normalize
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) { mant <<= 1; --exp; }
      x = sign | (exp << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace

int64_t SafetensorsEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kBF16: return "BF16";
    case DType::kF16: return "F16";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
    case DType::kU8: return "U8";
    case DType::kU16: return "U16";
  }
  return "?";
}

SafetensorsReader::SafetensorsReader(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  struct stat st{};
  ::fstat(fd, &st);
  map_bytes_ = static_cast<size_t>(st.st_size);
  if (map_bytes_ < 8) {
    ::close(fd);
    throw Error(fmt::format("{}: truncated safetensors file ({} bytes, no header)", path, map_bytes_),
                "the file was cut short; save it again");
  }
  map_ = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw Error(fmt::format("cannot map {}: {}", path, std::strerror(errno)));
  }
  const char* base = static_cast<const char*>(map_);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(base[i]);
  if (header_len > kMaxHeaderBytes || 8 + header_len > map_bytes_)
    throw Error(fmt::format("{}: truncated or corrupt safetensors file (header of {} bytes, file of {})",
                            path, header_len, map_bytes_), "the file was cut short; save it again");
  data_ = base + 8 + header_len;
  size_t data_bytes = map_bytes_ - 8 - header_len;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(base + 8, base + 8 + header_len);
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: corrupt safetensors header: {}", path, e.what()));
  }
  if (!header.is_object()) throw Error(fmt::format("{}: safetensors header is not a JSON object", path));
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      for (auto& [k, s] : v.items()) metadata_[k] = s.is_string() ? s.get<std::string>() : s.dump();
      continue;
    }
    try {
      SafetensorsEntry e;
      e.name = name;
      e.dtype = dtype_from_name(v.at("dtype").get<std::string>(), path, name);
      e.shape = v.at("shape").get<std::vector<int64_t>>();
      auto off = v.at("data_offsets").get<std::vector<size_t>>();
      if (off.size() != 2 || off[0] > off[1]) throw Error("bad data_offsets");
      e.begin = off[0];
      e.end = off[1];
      if (e.end > data_bytes)
        throw Error(fmt::format("{}: truncated safetensors file: tensor '{}' ends at byte {} of a {}-byte data section",
                                path, name, e.end, data_bytes), "the file was cut short; save it again");
      if (static_cast<size_t>(e.numel()) * dtype_size(e.dtype) != e.end - e.begin)
        throw Error(fmt::format("{}: tensor '{}' has {} bytes for its shape", path, name, e.end - e.begin));
      entries_.push_back(std::move(e));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& ex) {
      throw Error(fmt::format("{}: bad safetensors entry '{}': {}", path, name, ex.what()));
    }
  }
}

SafetensorsReader::~SafetensorsReader() {
  if (map_) ::munmap(map_, map_bytes_);
}

const SafetensorsEntry* SafetensorsReader::find(const std::string& name) const {
  for (const auto& e : entries_) if (e.name == name) return &e;
  return nullptr;
}

const SafetensorsEntry& SafetensorsReader::at(const std::string& name) const {
  const auto* e = find(name);
  if (!e) throw Error(fmt::format("{}: no tensor named '{}'", path_, name));
  return *e;
}

void SafetensorsReader::read_f32(const SafetensorsEntry& e, float* out, int64_t first, int64_t count) const {
  if (count < 0) count = e.numel() - first;
  PRIMUS_CHECK(first >= 0 && first + count <= e.numel(), "read past tensor {}", e.name);
  const char* p = data_ + e.begin;
  switch (e.dtype) {
    case DType::kF32:
      std::memcpy(out, p + first * 4, static_cast<size_t>(count) * 4);
      return;
    case DType::kBF16: case DType::kF16:
      for (int64_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, p + (first + i) * 2, 2);
        out[i] = e.dtype == DType::kBF16 ? bf16_to_float(h) : half_to_float(h);
      }
      return;
    default:
      throw Error(fmt::format("{}: tensor '{}' is {}, not a floating-point tensor", path_, e.name,
                              safetensors_dtype_name(e.dtype)));
  }
}

std::vector<float> SafetensorsReader::read_f32(const std::string& name) const {
  const auto& e = at(name);
  std::vector<float> out(static_cast<size_t>(e.numel()));
  read_f32(e, out.data());
  return out;
}

void SafetensorsWriter::add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data) {
  Item it{SafetensorsEntry{name, dtype, std::move(shape), 0, 0}, data};
  size_t begin = items_.empty() ? 0 : items_.back().entry.end;
  it.entry.begin = begin;
  it.entry.end = begin + static_cast<size_t>(it.entry.numel()) * dtype_size(dtype);
  items_.push_back(std::move(it));
}

void SafetensorsWriter::write(const std::string& path) const {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  for (const auto& it : items_) {
    header[it.entry.name] = {{"dtype", safetensors_dtype_name(it.entry.dtype)},
                             {"shape", it.entry.shape},
                             {"data_offsets", {it.entry.begin, it.entry.end}}};
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');   // keep the data 8-byte aligned, as HF does
  uint64_t n = text.size();
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  AtomicFile f(path);
  f.write(len, 8);
  f.write(text);
  for (const auto& it : items_) f.write(it.data, it.entry.end - it.entry.begin);
  f.commit();
}

}  // namespace primus::train
