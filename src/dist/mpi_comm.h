// MpiComm: the Comm over MPI for host tensors (fp32, bf16, int32, int64 reductions; any dtype for
// data movement). Every operation is issued non-blocking and waited on with a watchdog: past the
// timeout the waiting rank aborts the whole job, naming itself and the operation, so a dead or
// stuck peer never hangs the others.
#pragma once
#include <mpi.h>

#include <memory>

#include "dist/comm.h"

namespace primus::dist {

// Owns MPI initialization for the process; shared by the world communicator and its splits.
// MPI_Finalize runs when the last holder goes away on a normal path; while an exception unwinds it
// is skipped (finalize is collective and would wait for peers), so the launcher sees a non-zero
// exit without finalize and takes the job down.
class MpiRuntime {
 public:
  // The process's one runtime (MPI itself is process-wide): shared while any communicator lives.
  static std::shared_ptr<MpiRuntime> acquire();
  MpiRuntime();
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;
  MPI_Op bf16_op(ReduceOp op) const;

 private:
  bool owns_init_ = false;
  MPI_Op bf16_sum_ = MPI_OP_NULL, bf16_max_ = MPI_OP_NULL, bf16_min_ = MPI_OP_NULL;
};

class MpiComm final : public Comm {
 public:
  // Takes ownership of `comm` (freed in the destructor unless it is MPI_COMM_WORLD).
  MpiComm(MPI_Comm comm, std::shared_ptr<MpiRuntime> runtime, double timeout_s);
  ~MpiComm() override;
  std::string_view name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int world_rank() const override { return world_rank_; }
  void all_reduce(Tensor t, ReduceOp op) override;
  // MPI_Iallreduce; the request's wait() runs the watchdog and, for kAvg, the division.
  std::unique_ptr<CommRequest> all_reduce_start(Tensor t, ReduceOp op, void* stream) override;
  void reduce_scatter(Tensor out, Tensor in, ReduceOp op) override;
  void all_gather(Tensor out, Tensor in) override;
  void broadcast(Tensor t, int root) override;
  void all_to_all(Tensor out, Tensor in) override;
  void send(Tensor t, int peer) override;
  void recv(Tensor t, int peer) override;
  void exchange(std::span<const PeerTensor> sends, std::span<const PeerTensor> recvs) override;
  void barrier() override;
  std::unique_ptr<Comm> split(int color, int key) override;
  [[noreturn]] void abort(const std::string& message) override;

 private:
  friend class MpiRequest;
  void wait(MPI_Request& request, const char* what);
  MPI_Op mpi_op(ReduceOp op, DType dtype) const;
  int count_of(Tensor t, const char* what) const;

  MPI_Comm comm_;
  std::shared_ptr<MpiRuntime> runtime_;
  double timeout_s_;
  int rank_ = 0, size_ = 1, world_rank_ = 0;
};

}  // namespace primus::dist
