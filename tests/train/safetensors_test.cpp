// Safetensors: round trip of F32/BF16 tensors with metadata; truncated and corrupt files are
// errors naming the file; the atomic writer leaves no temporary behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>

#include "core/error.h"
#include "train/atomic_file.h"
#include "train/safetensors.h"

namespace fs = std::filesystem;

namespace primus::train {
namespace {

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / fmt::format("primus_st_{}_{}", name, ::getpid());
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, RoundTripKeepsNamesShapesValuesAndMetadata) {
  auto dir = temp_dir("roundtrip");
  std::vector<float> a = {1.5f, -2.25f, 3.0f, 1e-3f, 7.0f, -0.0f};   // (2,3)
  std::vector<uint16_t> b = {bf16_from_float(0.5f), bf16_from_float(-4.0f), bf16_from_float(3.14159f)};  // (3)
  SafetensorsWriter w;
  w.add("layer.weight", DType::kF32, {2, 3}, a.data());
  w.add("layer.bias", DType::kBF16, {3}, b.data());
  w.set_metadata("format", "pt");
  auto path = (dir / "model.safetensors").string();
  w.write(path);

  SafetensorsReader r(path);
  EXPECT_EQ(r.metadata().at("format"), "pt");
  ASSERT_EQ(r.entries().size(), 2u);
  const auto& e = r.at("layer.weight");
  EXPECT_EQ(e.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.read_f32("layer.weight"), a);
  auto bias = r.read_f32("layer.bias");
  EXPECT_FLOAT_EQ(bias[0], 0.5f);
  EXPECT_FLOAT_EQ(bias[1], -4.0f);
  EXPECT_NEAR(bias[2], 3.14159f, 0.02f);
  std::vector<float> part(2);
  r.read_f32(e, part.data(), 3, 2);
  EXPECT_EQ(part[0], a[3]);
  EXPECT_EQ(part[1], a[4]);
  // The header length is 8-byte aligned, so the data is too.
  std::ifstream in(path, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
  for (const auto& f : fs::directory_iterator(dir)) EXPECT_EQ(f.path().filename(), "model.safetensors");
  fs::remove_all(dir);
}

TEST(Safetensors, TruncatedFileIsAnErrorNamingIt) {
  auto dir = temp_dir("truncated");
  std::vector<float> a(1000, 1.0f);
  SafetensorsWriter w;
  w.add("w", DType::kF32, {1000}, a.data());
  auto path = (dir / "model.safetensors").string();
  w.write(path);
  fs::resize_file(path, fs::file_size(path) - 100);
  auto msg = error_of([&] { SafetensorsReader r(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  fs::resize_file(path, 20);   // cut inside the header
  msg = error_of([&] { SafetensorsReader r(path); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  fs::resize_file(path, 3);
  msg = error_of([&] { SafetensorsReader r(path); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(Safetensors, CorruptHeaderAndMissingTensorAreErrors) {
  auto dir = temp_dir("corrupt");
  auto path = (dir / "bad.safetensors").string();
  std::string junk = "{not json";
  uint64_t n = junk.size();
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<char*>(&n), 8) << junk;
  EXPECT_NE(error_of([&] { SafetensorsReader r(path); }).find("corrupt"), std::string::npos);
  std::vector<float> a(4, 2.0f);
  SafetensorsWriter w;
  w.add("w", DType::kF32, {4}, a.data());
  w.write(path);
  SafetensorsReader r(path);
  EXPECT_NE(error_of([&] { r.at("nope"); }).find("nope"), std::string::npos);
  fs::remove_all(dir);
}

TEST(AtomicFile, UncommittedWriteLeavesTheOldFile) {
  auto dir = temp_dir("atomic");
  auto path = (dir / "state.json").string();
  write_file_atomic(path, "old");
  {
    AtomicFile f(path);
    f.write("new but never committed");
  }
  EXPECT_EQ(read_file(path), "old");
  int files = 0;
  for (const auto& f : fs::directory_iterator(dir)) { (void)f; ++files; }
  EXPECT_EQ(files, 1);
  write_file_atomic(path, "new");
  EXPECT_EQ(read_file(path), "new");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace primus::train
