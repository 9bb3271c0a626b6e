// preflight_run: every check for this process, then rank 0 gathers the other ranks' findings
// (as JSON text carried in an all_gather) into one report (see checks.h).
#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <set>

#include "bench/host_info.h"
#include "config/loader.h"
#include "core/error.h"
#include "dist/comm.h"
#include "preflight/checks.h"
#include "preflight/memory_projection.h"
#include "runtime/backends.h"

namespace primus::preflight {
namespace {

// Ranks must see the same devices and software: compares each such finding with rank 0's.
void ranks_alike(PreflightReport& merged) {
  std::map<std::string, std::string> first;  // "category/check" -> rank 0's reason
  std::set<std::string> differ;
  for (const auto& f : merged.findings()) {
    if (f.category != "devices" && f.category != "software") continue;
    const std::string key = f.category + "/" + f.check;
    auto [it, inserted] = first.emplace(key, f.reason);
    if (!inserted && it->second != f.reason) differ.insert(key);
  }
  for (const auto& key : differ)
    merged.add("devices", "ranks alike", Status::kWarn, fmt::format("ranks differ in {}", key),
               "every rank should run on the same kind of node with the same software");
  if (differ.empty()) merged.add("devices", "ranks alike", Status::kPass, "every rank sees the same devices and software");
}

// Every rank's findings on rank 0 (others get their own back).
PreflightReport gather(const PreflightReport& mine, dist::Comm& comm) {
  if (comm.size() == 1) return mine;
  const std::string text = mine.json().dump();
  auto host = runtime::make_backend("cpu", 1);
  Buffer len_mem = host->alloc(4);
  Tensor len = len_mem.as(DType::kF32, {1});  // (1)
  float n = static_cast<float>(text.size());
  host->copy_from_host(len, &n);
  comm.all_reduce(len, dist::ReduceOp::kMax);
  host->copy_to_host(&n, len);
  const int64_t max_len = static_cast<int64_t>(n) + 1;
  std::vector<float> chars(static_cast<size_t>(max_len), 0.0f);  // (max_len) one byte per element, 0-terminated
  for (size_t i = 0; i < text.size(); ++i) chars[i] = static_cast<float>(static_cast<unsigned char>(text[i]));
  Buffer in_mem = host->alloc(static_cast<size_t>(max_len) * 4), out_mem = host->alloc(static_cast<size_t>(max_len * comm.size()) * 4);
  Tensor in = in_mem.as(DType::kF32, {max_len});                 // (max_len)
  Tensor out = out_mem.as(DType::kF32, {max_len * comm.size()});  // (ranks * max_len)
  host->copy_from_host(in, chars.data());
  comm.all_gather(out, in);
  if (comm.rank() != 0) return mine;
  std::vector<float> all(static_cast<size_t>(max_len * comm.size()));
  host->copy_to_host(all.data(), out);
  PreflightReport merged;
  for (int r = 0; r < comm.size(); ++r) {
    std::string s;
    for (int64_t i = 0; i < max_len; ++i) {
      const float c = all[static_cast<size_t>(r * max_len + i)];
      if (c == 0.0f) break;
      s += static_cast<char>(static_cast<int>(c));
    }
    PreflightReport theirs = PreflightReport::from_json(nlohmann::json::parse(s));
    merged.append(theirs);
  }
  ranks_alike(merged);
  return merged;
}

}  // namespace

PreflightReport preflight_run(const PreflightOptions& o, dist::Comm* comm) {
  PreflightReport r;
  const int world = comm ? comm->size() : 1;
  std::optional<config::ExperimentConfig> cfg;
  if (!o.config_path.empty()) {
    try {
      cfg = config::load_experiment(o.config_path, o.overrides);
      config::data_parallel_size(*cfg, world);
      r.add("config", "validation", Status::kPass, fmt::format("{} is valid for {} process(es)", o.config_path, world));
    } catch (const Error& e) {
      r.add("config", "validation", Status::kFail, e.what(), e.hint());
      cfg.reset();
    }
  }
  const std::string device = !o.device.empty() ? o.device : cfg ? cfg->backend.device : "cpu";
  check_host(r);
  check_devices(r, device);
  check_software(r);
  check_environment(r, bench::perf_env_collect(), world);
  if (cfg) {
    check_config(r, *cfg, device, world);
    uint64_t ckpt = 0;
    try {
      ckpt = memory_project(*cfg, world).checkpoint_bytes;
    } catch (const Error&) {
      // the layout problem is already a finding of check_config
    }
    check_storage(r, (std::filesystem::path(cfg->workspace) / cfg->exp_name / "checkpoints").string(), ckpt,
                  cfg->checkpoint.keep_last, o);
  } else {
    check_storage(r, "runs", 0, 0, o);
  }
  if (o.quick) r.add("performance", "measurements", Status::kSkip, "--quick: GEMM, bandwidth and collective checks skipped");
  else check_performance(r, device, comm);
  if (comm) {
    r.set_rank(comm->rank());
    return gather(r, *comm);
  }
  return r;
}

}  // namespace primus::preflight
