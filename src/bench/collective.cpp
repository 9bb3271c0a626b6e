// Collective benchmark (see collective.h).
#include "bench/collective.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "dist/comm.h"

namespace primus::bench {

std::string_view collective_name(CollectiveOp op) {
  switch (op) {
    case CollectiveOp::kAllReduce: return "all_reduce";
    case CollectiveOp::kAllGather: return "all_gather";
    case CollectiveOp::kReduceScatter: return "reduce_scatter";
    case CollectiveOp::kBroadcast: return "broadcast";
    case CollectiveOp::kAllToAll: return "all_to_all";
    case CollectiveOp::kSendRecv: return "send_recv";
  }
  return "?";
}

CollectiveOp collective_parse(const std::string& name) {
  for (CollectiveOp op : {CollectiveOp::kAllReduce, CollectiveOp::kAllGather, CollectiveOp::kReduceScatter,
                          CollectiveOp::kBroadcast, CollectiveOp::kAllToAll, CollectiveOp::kSendRecv})
    if (name == collective_name(op)) return op;
  throw usage_error(fmt::format("unknown collective '{}'", name),
                    "use all_reduce, all_gather, reduce_scatter, broadcast, all_to_all or send_recv");
}

double collective_bus_factor(CollectiveOp op, int world) {
  const double n = world;
  switch (op) {
    case CollectiveOp::kAllReduce: return 2.0 * (n - 1) / n;
    case CollectiveOp::kAllGather:
    case CollectiveOp::kReduceScatter:
    case CollectiveOp::kAllToAll: return (n - 1) / n;
    case CollectiveOp::kBroadcast:
    case CollectiveOp::kSendRecv: return 1.0;
  }
  return 1.0;
}

int64_t collective_chunk_elements(CollectiveOp op, int64_t bytes, int world) {
  const int64_t elems = bytes / 4;
  const bool split = op == CollectiveOp::kAllGather || op == CollectiveOp::kReduceScatter || op == CollectiveOp::kAllToAll;
  return split ? elems / world : elems;
}

float collective_pattern(int rank, int64_t i) { return static_cast<float>((rank * 131 + i * 7) % 17 + 1); }

std::string collective_check(CollectiveOp op, int rank, int world, int64_t n, std::span<const float> out) {
  auto expected = [&](int64_t j) -> float {
    switch (op) {
      case CollectiveOp::kAllReduce: {
        float s = 0;
        for (int q = 0; q < world; ++q) s += collective_pattern(q, j);
        return s;
      }
      case CollectiveOp::kReduceScatter: {
        float s = 0;
        for (int q = 0; q < world; ++q) s += collective_pattern(q, rank * n + j);
        return s;
      }
      case CollectiveOp::kAllGather: return collective_pattern(static_cast<int>(j / n), j % n);
      case CollectiveOp::kBroadcast: return collective_pattern(0, j);
      case CollectiveOp::kAllToAll: return collective_pattern(static_cast<int>(j / n), rank * n + j % n);
      case CollectiveOp::kSendRecv: return collective_pattern(rank ^ 1, j);
    }
    return 0;
  };
  if (op == CollectiveOp::kSendRecv && (rank ^ 1) >= world) return {};
  const bool whole = op == CollectiveOp::kAllGather || op == CollectiveOp::kAllToAll;
  const int64_t len = whole ? n * world : n;
  if (static_cast<int64_t>(out.size()) != len)
    return fmt::format("{} elements, expected {}", out.size(), len);
  for (int64_t j = 0; j < len; ++j) {
    const float e = expected(j);
    if (out[static_cast<size_t>(j)] != e)
      return fmt::format("{} on rank {} of {}: element {} is {}, expected {}", collective_name(op), rank, world, j,
                         out[static_cast<size_t>(j)], e);
  }
  return {};
}

namespace {

std::vector<float> pattern(int rank, int64_t len) {
  std::vector<float> v(static_cast<size_t>(len));  // (len)
  for (int64_t i = 0; i < len; ++i) v[static_cast<size_t>(i)] = collective_pattern(rank, i);
  return v;
}

// Runs op once on buffers in (input) and out (output; the same tensor for in-place ops).
void collective_call(dist::Comm& comm, CollectiveOp op, Tensor in, Tensor out) {
  const int r = comm.rank(), peer = r ^ 1;
  switch (op) {
    case CollectiveOp::kAllReduce: comm.all_reduce(out, dist::ReduceOp::kSum); break;
    case CollectiveOp::kReduceScatter: comm.reduce_scatter(out, in, dist::ReduceOp::kSum); break;
    case CollectiveOp::kAllGather: comm.all_gather(out, in); break;
    case CollectiveOp::kBroadcast: comm.broadcast(out, 0); break;
    case CollectiveOp::kAllToAll: comm.all_to_all(out, in); break;
    case CollectiveOp::kSendRecv:
      if (peer >= comm.size()) break;
      if (r % 2 == 0) comm.send(in, peer), comm.recv(out, peer);
      else comm.recv(out, peer), comm.send(in, peer);
      break;
  }
}

// Element-wise max over ranks of a host vector, through device memory where the comm needs it.
std::vector<float> max_over_ranks(dist::Comm& comm, Backend& be, std::vector<float> v) {
  Buffer b = be.alloc(v.size() * sizeof(float));
  Tensor t = b.as(DType::kF32, {static_cast<int64_t>(v.size())});  // (iters)
  be.copy_from_host(t, v.data());
  comm.all_reduce(t, dist::ReduceOp::kMax);
  comm.synchronize();
  be.copy_to_host(v.data(), t);
  return v;
}

double percentile(std::vector<float> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

Report collective_report(const CollectiveSweep& s, dist::Comm& comm, Backend& be, int* wrong_results) {
  const int world = comm.size(), rank = comm.rank();
  Report r;
  r.title = "collective";
  r.columns = {{"op", "op"}, {"bytes", "bytes"}, {"ranks", "ranks"}, {"p50_us", "p50 (us)", 1}, {"p95_us", "p95 (us)", 1},
               {"algbw_gbps", "algbw (GB/s)", 2}, {"busbw_gbps", "busbw (GB/s)", 2}, {"check", "check"}};
  r.key_columns = {"op", "bytes", "ranks"};
  r.metric = "busbw_gbps";
  int wrong = 0;
  for (CollectiveOp op : s.ops) {
    for (int64_t bytes : s.sizes) {
      const int64_t n = collective_chunk_elements(op, bytes, world);
      if (n < 1 || (op == CollectiveOp::kSendRecv && world < 2)) continue;
      const bool whole_in = op == CollectiveOp::kReduceScatter || op == CollectiveOp::kAllToAll;
      const bool whole_out = op == CollectiveOp::kAllGather || op == CollectiveOp::kAllToAll;
      const int64_t in_len = whole_in ? n * world : n, out_len = whole_out ? n * world : n;
      Buffer in_mem = be.alloc(static_cast<size_t>(in_len) * 4), out_mem = be.alloc(static_cast<size_t>(out_len) * 4);
      Tensor in = in_mem.as(DType::kF32, {in_len});     // (in_len)
      Tensor out = out_mem.as(DType::kF32, {out_len});  // (out_len)
      be.copy_from_host(in, pattern(rank, in_len).data());
      const bool in_place = op == CollectiveOp::kAllReduce || op == CollectiveOp::kBroadcast;
      if (in_place) be.copy_from_host(out, pattern(rank, out_len).data());
      else be.fill(out, -1.0f);  // poison: an output that is never written fails the check
      collective_call(comm, op, in, out);
      comm.synchronize();
      be.synchronize();
      std::vector<float> host(static_cast<size_t>(out_len));
      be.copy_to_host(host.data(), out);
      const std::string problem = collective_check(op, rank, world, n, host);
      if (!problem.empty()) log_warn("{}", problem);
      const bool ok = max_over_ranks(comm, be, {problem.empty() ? 0.0f : 1.0f})[0] == 0.0f;
      if (!ok) ++wrong;
      std::vector<float> times;  // (iters) seconds per iteration on this rank
      for (int i = 0; i < s.warmup + s.iters; ++i) {
        comm.barrier();
        Timer t;
        collective_call(comm, op, in, out);
        comm.synchronize();
        if (i >= s.warmup) times.push_back(static_cast<float>(t.seconds()));
      }
      times = max_over_ranks(comm, be, times);
      const double p50 = percentile(times, 0.5), p95 = percentile(times, 0.95);
      const double algbw = static_cast<double>(bytes) / p50 / 1e9;
      r.rows.push_back({{"op", std::string(collective_name(op))}, {"bytes", bytes}, {"ranks", world}, {"p50_us", p50 * 1e6},
                        {"p95_us", p95 * 1e6}, {"algbw_gbps", algbw},
                        {"busbw_gbps", algbw * collective_bus_factor(op, world)}, {"check", ok ? "ok" : "WRONG"}});
    }
  }
  if (wrong_results) *wrong_results = wrong;
  return r;
}

Chart collective_chart(const Report& r) {
  Chart c{"Collective bus bandwidth", "message size (bytes)", "bus bandwidth (GB/s)", true, true, {}};
  std::map<std::string, Series> by;
  for (const auto& row : r.rows) {
    std::string op = row.value("op", "");
    by[op].name = op;
    by[op].points.emplace_back(row.value("bytes", 0.0), row.value("busbw_gbps", 0.0));
  }
  for (auto& [_, s] : by) c.series.push_back(std::move(s));
  return c;
}

}  // namespace primus::bench
