// Config, dataset and storage checks (see checks.h).
#include <fcntl.h>
#include <glob.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <fmt/format.h>
#include <vector>

#include "bench/host_info.h"
#include "core/error.h"
#include "core/timer.h"
#include "data/indexed_dataset.h"
#include "data/loader.h"
#include "preflight/checks.h"
#include "preflight/memory_projection.h"
#include "train/metrics.h"

namespace primus::preflight {
namespace {

using train::format_bytes;

std::optional<DiskSpace> statvfs_space(const std::string& path) {
  struct statvfs s{};
  if (statvfs(path.c_str(), &s) != 0) return std::nullopt;
  return DiskSpace{static_cast<uint64_t>(s.f_bavail) * s.f_frsize, static_cast<uint64_t>(s.f_blocks) * s.f_frsize};
}

// The nearest existing ancestor of path (itself if it exists).
std::string existing_ancestor(const std::string& path) {
  std::filesystem::path p = std::filesystem::absolute(path);
  std::error_code ec;
  while (!p.empty() && !std::filesystem::exists(p, ec)) {
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  return p.string();
}

// Writes `bytes` to a temporary file in dir with fsync; seconds taken, or an error text.
std::pair<double, std::string> write_probe(const std::string& dir, int64_t bytes) {
  std::string path = dir + "/.primus-preflight-XXXXXX";
  std::vector<char> name(path.begin(), path.end());
  name.push_back('\0');
  int fd = mkstemp(name.data());
  if (fd < 0) return {0, fmt::format("cannot create a file in {}: {}", dir, std::strerror(errno))};
  std::vector<char> block(size_t{1} << 20, 'p');
  Timer t;
  std::string err;
  for (int64_t done = 0; done < bytes && err.empty();) {
    const size_t n = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(block.size()), bytes - done));
    ssize_t w = ::write(fd, block.data(), n);
    if (w <= 0) err = fmt::format("writing to {} failed after {}: {}", dir, format_bytes(static_cast<double>(done)), std::strerror(errno));
    else done += w;
  }
  if (err.empty() && ::fsync(fd) != 0) err = fmt::format("fsync in {} failed: {}", dir, std::strerror(errno));
  double s = t.seconds();
  ::close(fd);
  ::unlink(name.data());
  return {s, err};
}

void check_source(PreflightReport& r, const std::string& split, const std::string& path) {
  const std::string check = fmt::format("dataset {} {}", split, path);
  try {
    if (data::IndexedDataset::exists(path)) {
      data::IndexedDataset ds(path);
      r.add("config", check, Status::kPass,
            fmt::format("Megatron indexed: {} documents, {} tokens", ds.num_documents(), ds.num_tokens()));
      return;
    }
    glob_t g{};
    std::vector<std::string> files;
    if (::glob(path.c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    if (files.empty()) {
      r.add("config", check, Status::kFail, fmt::format("missing: no {}.bin/.idx pair and no llm.c shard matches {}", path, path),
            "run `primus data prepare` first, or fix the path in data.train / data.valid");
      return;
    }
    int64_t tokens = 0;
    for (const auto& f : files) tokens += data::LlmcShard(f).num_tokens();
    r.add("config", check, Status::kPass, fmt::format("{} llm.c shard(s), {} tokens", files.size(), tokens));
  } catch (const Error& e) {
    r.add("config", check, Status::kFail, fmt::format("malformed: {}", e.what()),
          e.hint().empty() ? "prepare the dataset again with `primus data prepare`" : e.hint());
  }
}

}  // namespace

void check_storage(PreflightReport& r, const std::string& dir, uint64_t checkpoint_bytes, int64_t keep_last,
                   const PreflightOptions& o) {
  const std::string probe_dir = existing_ancestor(dir);
  auto space = o.disk_space ? o.disk_space(probe_dir) : statvfs_space(probe_dir);
  if (!space) {
    r.add("storage", "free space", Status::kFail, fmt::format("cannot query the filesystem of {}", probe_dir),
          "check that the checkpoint directory is on a mounted filesystem");
    return;
  }
  const double free_b = static_cast<double>(space->free_bytes);
  const uint64_t want = checkpoint_bytes * static_cast<uint64_t>(std::max<int64_t>(keep_last, 1) + 1);
  if (checkpoint_bytes > 0 && space->free_bytes < checkpoint_bytes)
    r.add("storage", "free space", Status::kFail,
          fmt::format("{} free at {}, one checkpoint needs {}", format_bytes(free_b), probe_dir,
                      format_bytes(static_cast<double>(checkpoint_bytes))),
          "free space or point workspace at a larger filesystem");
  else if (checkpoint_bytes > 0 && space->free_bytes < want)
    r.add("storage", "free space", Status::kWarn,
          fmt::format("{} free at {}: fewer than keep_last+1 = {} checkpoints of {}", format_bytes(free_b), probe_dir,
                      keep_last + 1, format_bytes(static_cast<double>(checkpoint_bytes))),
          "lower checkpoint.keep_last or free space");
  else
    r.add("storage", "free space", Status::kPass,
          checkpoint_bytes > 0 ? fmt::format("{} free at {} ({} per checkpoint)", format_bytes(free_b), probe_dir,
                                             format_bytes(static_cast<double>(checkpoint_bytes)))
                               : fmt::format("{} free at {}", format_bytes(free_b), probe_dir));
  const int64_t probe = std::max<int64_t>(4096, std::min<int64_t>(o.write_test_bytes, static_cast<int64_t>(space->free_bytes / 4)));
  auto [seconds, err] = write_probe(probe_dir, probe);
  if (!err.empty()) {
    r.add("storage", "write", Status::kFail, err, "the checkpoint directory must be writable with room to spare");
    return;
  }
  const double bw = static_cast<double>(probe) / std::max(seconds, 1e-9);
  const double ckpt_s = static_cast<double>(checkpoint_bytes) / bw;
  r.add("storage", "write", ckpt_s > 300 ? Status::kWarn : Status::kPass,
        fmt::format("{}/s with fsync ({} probe){}", format_bytes(bw), format_bytes(static_cast<double>(probe)),
                    checkpoint_bytes ? fmt::format("; one checkpoint takes about {:.1f} s", ckpt_s) : ""),
        "checkpoints will stall training for minutes; use faster storage or checkpoint less often");
}

void check_config(PreflightReport& r, const config::ExperimentConfig& cfg, const std::string& device, int world_size) {
  // Datasets.
  if (cfg.data.mock) {
    r.add("config", "datasets", Status::kPass, "mock data (random tokens)");
  } else {
    for (const auto& s : cfg.data.train) check_source(r, "train", s.path);
    for (const auto& s : cfg.data.valid) check_source(r, "valid", s.path);
    if (!r.failed()) {
      try {
        auto loader = data::make_loader(cfg.data, data::Split::kTrain, cfg.train.micro_batch_size, cfg.train.seq_len, 0, 1,
                                        cfg.train.seed, cfg.model.vocab_size);
        std::vector<int32_t> in(static_cast<size_t>(cfg.train.micro_batch_size * cfg.train.seq_len)), tg(in.size());  // (B,T)
        loader->next(in.data(), tg.data());
        r.add("config", "data loader", Status::kPass, "the first training batch reads and its token ids fit the vocabulary");
      } catch (const Error& e) {
        r.add("config", "data loader", Status::kFail, e.what(), e.hint());
      }
    }
  }
  if (!cfg.data.tokenizer.empty() && !std::filesystem::exists(cfg.data.tokenizer))
    r.add("config", "tokenizer", Status::kWarn, fmt::format("data.tokenizer {} does not exist", cfg.data.tokenizer),
          "generation and data preparation need it; training does not");
  // Memory.
  MemoryProjection p;
  try {
    p = memory_project(cfg, world_size);
  } catch (const Error& e) {
    r.add("config", "parallel layout", Status::kFail, e.what(), e.hint());
    return;
  }
  size_t device_bytes = 0;
  std::string device_name = "host memory";
  if (device.rfind("cuda", 0) == 0) {
    auto gpus = bench::gpu_info_collect();
    if (!gpus.empty()) device_bytes = static_cast<size_t>(gpus[0].memory_bytes), device_name = gpus[0].name;
  } else {
    device_bytes = static_cast<size_t>(bench::host_info_collect().memory_available_bytes);
    device_name = "available host memory";
  }
  const std::string summary = fmt::format("{} per rank (weights {}, grads {}, optimizer {}, activations {})",
                                          format_bytes(static_cast<double>(p.total_bytes())),
                                          format_bytes(static_cast<double>(p.weights_bytes)),
                                          format_bytes(static_cast<double>(p.grads_bytes)),
                                          format_bytes(static_cast<double>(p.optimizer_bytes)),
                                          format_bytes(static_cast<double>(p.activation_bytes)));
  if (device_bytes == 0)
    r.add("config", "memory projection", Status::kWarn, summary + "; device memory unknown", "run preflight on the training machine");
  else if (p.total_bytes() > device_bytes)
    r.add("config", "memory projection", Status::kFail,
          fmt::format("{}: does not fit {} ({})", summary, device_name, format_bytes(static_cast<double>(device_bytes))),
          "lower train.micro_batch_size, enable backend.recompute, parallel.zero=1, or shard with parallel.tensor/pipeline");
  else
    r.add("config", "memory projection", p.total_bytes() > device_bytes * 9 / 10 ? Status::kWarn : Status::kPass,
          fmt::format("{}: fits {} ({})", summary, device_name, format_bytes(static_cast<double>(device_bytes))),
          "less than 10% headroom; fragmentation may push it over");
}

}  // namespace primus::preflight
