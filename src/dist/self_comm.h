// SelfComm: the communicator of a single process (size 1). Every collective is the identity (or a
// copy), so single-process runs take the same code path as distributed ones without MPI.
#pragma once
#include "dist/comm.h"

namespace primus::dist {

class SelfComm final : public Comm {
 public:
  std::string_view name() const override { return "self"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int world_rank() const override { return 0; }
  void all_reduce(Tensor t, ReduceOp op) override;
  void reduce_scatter(Tensor out, Tensor in, ReduceOp op) override;
  void all_gather(Tensor out, Tensor in) override;
  void broadcast(Tensor t, int root) override;
  void all_to_all(Tensor out, Tensor in) override;
  void send(Tensor t, int peer) override;
  void recv(Tensor t, int peer) override;
  void exchange(std::span<const PeerTensor> sends, std::span<const PeerTensor> recvs) override;
  void barrier() override {}
  std::unique_ptr<Comm> split(int color, int key) override;
  // One process: nothing else to take down, so this throws primus::Error(message).
  [[noreturn]] void abort(const std::string& message) override;
};

}  // namespace primus::dist
