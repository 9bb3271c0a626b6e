// Tensor: a non-owning view (pointer, dtype, shape, device) passed to every backend op.
// Memory is owned by Buffer (RAII, from Backend::alloc) or by an arena carved from one.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>

#include "core/dtype.h"
#include "core/error.h"

namespace primus {

enum class DeviceKind : uint8_t { kCPU, kCUDA };

struct Shape {
  static constexpr int kMaxDims = 5;
  std::array<int64_t, kMaxDims> dims{};
  int ndim = 0;

  Shape() = default;
  Shape(std::initializer_list<int64_t> d) {
    PRIMUS_CHECK(d.size() <= kMaxDims, "too many dims");
    for (int64_t v : d) dims[ndim++] = v;
  }
  int64_t operator[](int i) const { return dims[i < 0 ? ndim + i : i]; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= dims[i];
    return n;
  }
  bool operator==(const Shape& o) const {
    if (ndim != o.ndim) return false;
    for (int i = 0; i < ndim; ++i) if (dims[i] != o.dims[i]) return false;
    return true;
  }
  std::string str() const;
};

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::kF32;
  Shape shape;
  DeviceKind device = DeviceKind::kCPU;

  bool empty() const { return data == nullptr; }
  int64_t numel() const { return shape.numel(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  int64_t dim(int i) const { return shape[i]; }
  template <typename T> T* ptr() const { return static_cast<T*>(data); }
  float* f32() const {
    PRIMUS_CHECK(dtype == DType::kF32, "tensor is {}, not fp32", dtype_name(dtype));
    return static_cast<float*>(data);
  }
  // The same memory with another shape of equal size.
  Tensor view(Shape s) const {
    PRIMUS_CHECK(s.numel() == numel(), "view {} of {}", s.str(), shape.str());
    return Tensor{data, dtype, s, device};
  }
  // Elements [offset, offset + s.numel()) of this tensor's memory, shaped s.
  Tensor slice(int64_t offset, Shape s) const {
    PRIMUS_CHECK(offset >= 0 && offset + s.numel() <= numel(), "slice out of range");
    return Tensor{static_cast<char*>(data) + offset * static_cast<int64_t>(dtype_size(dtype)), dtype, s, device};
  }
};

// Owning device or host memory; freed by the deleter supplied by whoever allocated it.
class Buffer {
 public:
  Buffer() = default;
  Buffer(void* data, size_t bytes, DeviceKind device, std::function<void(void*)> deleter)
      : data_(data), bytes_(bytes), device_(device), deleter_(std::move(deleter)) {}
  Buffer(Buffer&& o) noexcept { *this = std::move(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = o.data_; bytes_ = o.bytes_; device_ = o.device_; deleter_ = std::move(o.deleter_);
      o.data_ = nullptr; o.bytes_ = 0;
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { reset(); }

  void reset() {
    if (data_ && deleter_) deleter_(data_);
    data_ = nullptr;
    bytes_ = 0;
  }
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  DeviceKind device() const { return device_; }
  Tensor as(DType dtype, Shape shape, size_t byte_offset = 0) const {
    PRIMUS_CHECK(byte_offset + static_cast<size_t>(shape.numel()) * dtype_size(dtype) <= bytes_,
                 "tensor {} does not fit the buffer", shape.str());
    return Tensor{static_cast<char*>(data_) + byte_offset, dtype, shape, device_};
  }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  DeviceKind device_ = DeviceKind::kCPU;
  std::function<void(void*)> deleter_;
};

}  // namespace primus
