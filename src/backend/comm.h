// Comm: the communicator interface every parallel layout talks through (DP, ZeRO-1, TP, PP).
// It lives at the backend layer so that models can place the few tensor-parallel collectives
// themselves (DESIGN.md: "Comm calls at the few points where Megatron places them") without
// depending on src/dist, which holds the implementations: MpiComm (host tensors), NcclComm (device
// tensors; built only with PRIMUS_CUDA) and a single-process SelfComm (size 1, no MPI needed).
// Contracts: every call is collective over the group except send/recv; buffers are contiguous and
// of one dtype; `out` comes first. A collective that does not complete within the watchdog timeout
// (PRIMUS_COMM_TIMEOUT_S, default 600) aborts every rank with a message naming this rank and the op.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/tensor.h"

namespace primus {

enum class ReduceOp { kSum, kAvg, kMax, kMin };

// A collective in flight (Comm::all_reduce_start). wait() completes it: on the host the result is in
// place when it returns; on a device the stream passed to the start is ordered after it (no host
// wait). test() only helps progress (MPI advances nonblocking collectives inside MPI calls) and
// says whether it has completed. Destroying a request that was never waited on waits first.
class CommRequest {
 public:
  virtual ~CommRequest() = default;
  virtual void wait() = 0;
  virtual bool test() { return false; }
};

class Comm {
 public:
  virtual ~Comm() = default;
  virtual std::string_view name() const = 0;   // "mpi", "nccl", "self"
  virtual int rank() const = 0;                // rank in this group, [0, size)
  virtual int size() const = 0;
  virtual int world_rank() const = 0;          // this process's rank in the world group (for messages)

  // In place: t (n) = op over every rank's t. kAvg divides the sum by size().
  virtual void all_reduce(Tensor t, ReduceOp op = ReduceOp::kSum) = 0;
  // all_reduce started without waiting (gradient buckets overlapping backward); t must not be
  // touched until wait(). `stream`: the device stream that produced t (Backend::native_stream());
  // the collective runs after the work queued on it so far, and wait() makes it wait for the
  // result. Requests complete in the order started; every rank starts the same sequence. The
  // default runs the blocking all_reduce at once.
  virtual std::unique_ptr<CommRequest> all_reduce_start(Tensor t, ReduceOp op, void* stream = nullptr);
  // Whether all_reduce_start on a stream that is being recorded into a CUDA graph records the
  // collective into that graph, its wait() included (NCCL): the data-parallel step can then be
  // replayed as one graph. Every other call still blocks the host and cannot be recorded.
  virtual bool records_into_graphs() const { return false; }
  // in (size*n) -> out (n): out = chunk rank() of the op over every rank's in.
  virtual void reduce_scatter(Tensor out, Tensor in, ReduceOp op = ReduceOp::kSum) = 0;
  // in (n) -> out (size*n): chunk r of out = rank r's in. `in` may be this rank's chunk of out.
  virtual void all_gather(Tensor out, Tensor in) = 0;
  // In place: t = root's t.
  virtual void broadcast(Tensor t, int root) = 0;
  // in (size*n) -> out (size*n): chunk j of rank i's in lands in chunk i of rank j's out.
  virtual void all_to_all(Tensor out, Tensor in) = 0;
  // Point to point within this group; a send must be matched by a recv of the same size.
  virtual void send(Tensor t, int peer) = 0;
  virtual void recv(Tensor t, int peer) = 0;
  // One batch of point-to-point transfers: every send and receive is posted at once and the call
  // returns when all have completed (MPI_Isend/MPI_Irecv then a wait, a grouped NCCL send/recv), so
  // ranks sending to each other in the same batch (the pipeline's activations one way, their
  // gradients the other) cannot deadlock. The default runs them one by one (one-way traffic only).
  struct PeerTensor {
    Tensor tensor;
    int peer = -1;
  };
  virtual void exchange(std::span<const PeerTensor> sends, std::span<const PeerTensor> recvs) {
    for (const PeerTensor& s : sends) send(s.tensor, s.peer);
    for (const PeerTensor& r : recvs) recv(r.tensor, r.peer);
  }
  // exchange() of one send and one receive; a peer of -1 leaves that half out.
  void send_recv(Tensor send, int send_peer, Tensor recv, int recv_peer) {
    const PeerTensor s{send, send_peer}, r{recv, recv_peer};
    exchange(std::span<const PeerTensor>(&s, send_peer >= 0 ? 1 : 0),
             std::span<const PeerTensor>(&r, recv_peer >= 0 ? 1 : 0));
  }
  virtual void barrier() = 0;
  // Waits for outstanding device work of this communicator (NCCL streams); no-op on the host.
  virtual void synchronize() {}

  // Sub-communicator of the ranks that pass the same color, ordered by key (then by rank).
  // Collective over this group.
  virtual std::unique_ptr<Comm> split(int color, int key) = 0;
  // Prints "error: rank R of N: message" and takes every rank of the job down (non-zero exit).
  [[noreturn]] virtual void abort(const std::string& message) = 0;
};

namespace detail {
struct DoneRequest final : CommRequest {
  void wait() override {}
  bool test() override { return true; }
};
}  // namespace detail

inline std::unique_ptr<CommRequest> Comm::all_reduce_start(Tensor t, ReduceOp op, void*) {
  all_reduce(t, op);
  return std::make_unique<detail::DoneRequest>();
}

}  // namespace primus
