// NcclComm: NCCL collectives on a private stream. Before each blocking operation the device is
// synchronized, and afterwards the private stream is polled until done or the watchdog deadline
// passes; on timeout the NCCL communicator is aborted and the job taken down naming this rank. So
// every such call is blocking, like MpiComm. all_reduce_start given the compute stream is ordered
// by CUDA events instead, without host waits (data-parallel buckets overlapping backward); when the
// compute stream is being captured into a CUDA graph, the same fork (event record + stream wait) and
// join are recorded, so the graph holds the collective on a branch of its own and replays it.
// Host tensors (loss scalars, norms) go through the MPI group of the same ranks instead.
#include "dist/nccl_comm.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <thread>
#include <vector>

namespace primus::dist {
namespace {

class NcclComm final : public Comm {
 public:
  NcclComm(std::unique_ptr<Comm> mpi, int device) : mpi_(std::move(mpi)), device_(device) {
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");
    ncclUniqueId id;
    if (mpi_->rank() == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    Tensor id_bytes{&id, DType::kU8, Shape{static_cast<int64_t>(sizeof(id))}, DeviceKind::kCPU};
    mpi_->broadcast(id_bytes, 0);
    nccl_check(ncclCommInitRank(&comm_, mpi_->size(), id, mpi_->rank()), "ncclCommInitRank");
    cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    timeout_s_ = comm_timeout_seconds();
  }
  ~NcclComm() override {
    for (cudaEvent_t e : capture_events_) cudaEventDestroy(e);
    if (comm_) ncclCommDestroy(comm_);
    if (stream_) cudaStreamDestroy(stream_);
  }
  std::string_view name() const override { return "nccl"; }
  int rank() const override { return mpi_->rank(); }
  int size() const override { return mpi_->size(); }
  int world_rank() const override { return mpi_->world_rank(); }

  void all_reduce(Tensor t, ReduceOp op) override {
    if (t.device == DeviceKind::kCPU) return mpi_->all_reduce(t, op);
    begin(t, "all_reduce");
    nccl_check(ncclAllReduce(t.data, t.data, t.numel(), type(t.dtype), nccl_op(op), comm_, stream_), "ncclAllReduce");
    finish("all_reduce");
  }
  // Ordered by events, not host waits: the collective starts on the NCCL stream after the work
  // queued so far on `stream` (the compute stream), and wait() makes `stream` wait for it. Without
  // a stream it falls back to the blocking path's device synchronization and polled wait. While
  // `stream` is being captured, the event wait joins the NCCL stream to the capture (the collective
  // is recorded, not run) and wait() joins it back; such a request is never queried.
  bool records_into_graphs() const override { return true; }
  std::unique_ptr<CommRequest> all_reduce_start(Tensor t, ReduceOp op, void* stream) override {
    if (t.device == DeviceKind::kCPU) return mpi_->all_reduce_start(t, op, stream);
    if (!stream) {
      all_reduce(t, op);
      return std::make_unique<detail::DoneRequest>();
    }
    auto compute = static_cast<cudaStream_t>(stream);
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    cuda_check(cudaStreamIsCapturing(compute, &capture), "cudaStreamIsCapturing");
    if (capture == cudaStreamCaptureStatusInvalidated) abort("all_reduce_start: the graph capture was invalidated");
    cudaEvent_t ready = nullptr, done = nullptr;
    cuda_check(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "cudaEventCreate");
    cuda_check(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
    cuda_check(cudaEventRecord(ready, compute), "cudaEventRecord");
    cuda_check(cudaStreamWaitEvent(stream_, ready, 0), "cudaStreamWaitEvent");
    nccl_check(ncclAllReduce(t.data, t.data, t.numel(), type(t.dtype), nccl_op(op), comm_, stream_), "ncclAllReduce");
    cuda_check(cudaEventRecord(done, stream_), "cudaEventRecord");
    const bool captured = capture == cudaStreamCaptureStatusActive;
    if (captured) {   // kept while the communicator lives: the capture may still refer to them
      capture_events_.push_back(ready);
      capture_events_.push_back(done);
    } else {
      cudaEventDestroy(ready);   // released once recorded work completes
    }
    return std::make_unique<Request>(this, compute, done, captured);
  }
  void reduce_scatter(Tensor out, Tensor in, ReduceOp op) override {
    if (in.device == DeviceKind::kCPU) return mpi_->reduce_scatter(out, in, op);
    begin(in, "reduce_scatter");
    PRIMUS_CHECK(in.numel() == out.numel() * size(), "reduce_scatter: in {} vs out {} x {}", in.numel(), out.numel(), size());
    nccl_check(ncclReduceScatter(in.data, out.data, out.numel(), type(out.dtype), nccl_op(op), comm_, stream_),
               "ncclReduceScatter");
    finish("reduce_scatter");
  }
  void all_gather(Tensor out, Tensor in) override {
    if (in.device == DeviceKind::kCPU) return mpi_->all_gather(out, in);
    begin(in, "all_gather");
    PRIMUS_CHECK(out.numel() == in.numel() * size(), "all_gather: out {} vs in {} x {}", out.numel(), in.numel(), size());
    nccl_check(ncclAllGather(in.data, out.data, in.numel(), type(in.dtype), comm_, stream_), "ncclAllGather");
    finish("all_gather");
  }
  void broadcast(Tensor t, int root) override {
    if (t.device == DeviceKind::kCPU) return mpi_->broadcast(t, root);
    begin(t, "broadcast");
    nccl_check(ncclBroadcast(t.data, t.data, t.numel(), type(t.dtype), root, comm_, stream_), "ncclBroadcast");
    finish("broadcast");
  }
  void all_to_all(Tensor out, Tensor in) override {
    if (in.device == DeviceKind::kCPU) return mpi_->all_to_all(out, in);
    begin(in, "all_to_all");
    PRIMUS_CHECK(in.numel() == out.numel() && in.numel() % size() == 0, "all_to_all sizes");
    int64_t chunk = in.numel() / size();
    size_t bytes = static_cast<size_t>(chunk) * dtype_size(in.dtype);
    nccl_check(ncclGroupStart(), "ncclGroupStart");
    for (int r = 0; r < size(); ++r) {
      nccl_check(ncclSend(static_cast<char*>(in.data) + r * bytes, chunk, type(in.dtype), r, comm_, stream_), "ncclSend");
      nccl_check(ncclRecv(static_cast<char*>(out.data) + r * bytes, chunk, type(in.dtype), r, comm_, stream_), "ncclRecv");
    }
    nccl_check(ncclGroupEnd(), "ncclGroupEnd");
    finish("all_to_all");
  }
  void send(Tensor t, int peer) override {
    if (t.device == DeviceKind::kCPU) return mpi_->send(t, peer);
    begin(t, "send");
    nccl_check(ncclSend(t.data, t.numel(), type(t.dtype), peer, comm_, stream_), "ncclSend");
    finish("send");
  }
  void recv(Tensor t, int peer) override {
    if (t.device == DeviceKind::kCPU) return mpi_->recv(t, peer);
    begin(t, "recv");
    nccl_check(ncclRecv(t.data, t.numel(), type(t.dtype), peer, comm_, stream_), "ncclRecv");
    finish("recv");
  }
  void exchange(std::span<const PeerTensor> sends, std::span<const PeerTensor> recvs) override {
    if (sends.empty() && recvs.empty()) return;
    const Tensor& any = sends.empty() ? recvs.front().tensor : sends.front().tensor;
    if (any.device == DeviceKind::kCPU) return mpi_->exchange(sends, recvs);
    begin(any, "exchange");
    nccl_check(ncclGroupStart(), "ncclGroupStart");
    for (const PeerTensor& s : sends)
      nccl_check(ncclSend(s.tensor.data, s.tensor.numel(), type(s.tensor.dtype), s.peer, comm_, stream_), "ncclSend");
    for (const PeerTensor& r : recvs)
      nccl_check(ncclRecv(r.tensor.data, r.tensor.numel(), type(r.tensor.dtype), r.peer, comm_, stream_), "ncclRecv");
    nccl_check(ncclGroupEnd(), "ncclGroupEnd");
    finish("exchange");
  }
  void barrier() override { mpi_->barrier(); }
  void synchronize() override { finish("synchronize"); }
  std::unique_ptr<Comm> split(int color, int key) override {
    return std::make_unique<NcclComm>(mpi_->split(color, key), device_);
  }
  [[noreturn]] void abort(const std::string& message) override {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    mpi_->abort(message);
  }

 private:
  void begin(Tensor t, const char* what) {
    if (t.device != DeviceKind::kCUDA) {
      throw Error(fmt::format("{} over NCCL got a host tensor", what), "the NCCL communicator moves GPU tensors");
    }
    cuda_check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  }
  void finish(const char* what) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s_);
    for (int polls = 0;; ++polls) {
      cudaError_t rc = cudaStreamQuery(stream_);
      if (rc == cudaSuccess) return;
      if (rc != cudaErrorNotReady) cuda_check(rc, what);
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess) abort(fmt::format("NCCL {} failed: {}", what, ncclGetErrorString(async)));
      if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
      if (std::chrono::steady_clock::now() > deadline) {
        abort(fmt::format("NCCL {} on a group of {} did not complete within {:g} s (PRIMUS_COMM_TIMEOUT_S); "
                          "a peer rank died or is stuck", what, size(), timeout_s_));
      }
    }
  }
  void nccl_check(ncclResult_t rc, const char* what) {
    if (rc != ncclSuccess) abort(fmt::format("{} failed: {}", what, ncclGetErrorString(rc)));
  }
  void cuda_check(cudaError_t rc, const char* what) {
    if (rc != cudaSuccess) abort(fmt::format("{} failed: {}", what, cudaGetErrorString(rc)));
  }
  static ncclDataType_t type(DType t) {
    switch (t) {
      case DType::kF32: return ncclFloat32;
      case DType::kBF16: return ncclBfloat16;
      case DType::kF16: return ncclFloat16;
      case DType::kI32: return ncclInt32;
      case DType::kI64: return ncclInt64;
      default: return ncclUint8;
    }
  }
  static ncclRedOp_t nccl_op(ReduceOp op) {
    switch (op) {
      case ReduceOp::kAvg: return ncclAvg;
      case ReduceOp::kMax: return ncclMax;
      case ReduceOp::kMin: return ncclMin;
      default: return ncclSum;
    }
  }

  // The compute stream waits for `done` (recorded after the collective on the NCCL stream). A
  // captured request's event marks a point in the graph being recorded: querying it would end the
  // capture, so test() says "not yet" and leaves it alone.
  class Request final : public CommRequest {
   public:
    Request(NcclComm* comm, cudaStream_t compute, cudaEvent_t done, bool captured)
        : comm_(comm), compute_(compute), done_(done), captured_(captured) {}
    ~Request() override {
      wait();
      if (!captured_) cudaEventDestroy(done_);   // a captured one belongs to the communicator
    }
    void wait() override {
      if (waited_) return;
      comm_->cuda_check(cudaStreamWaitEvent(compute_, done_, 0), "cudaStreamWaitEvent");
      waited_ = true;
    }
    bool test() override { return !captured_ && cudaEventQuery(done_) == cudaSuccess; }

   private:
    NcclComm* comm_;
    cudaStream_t compute_;
    cudaEvent_t done_;
    bool captured_ = false;
    bool waited_ = false;
  };

  std::unique_ptr<Comm> mpi_;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::vector<cudaEvent_t> capture_events_;   // events of captured all_reduce_start calls
  double timeout_s_ = 600.0;
};

}  // namespace

std::unique_ptr<Comm> make_nccl_comm(std::unique_ptr<Comm> bootstrap, int cuda_device) {
  return std::make_unique<NcclComm>(std::move(bootstrap), cuda_device);
}

}  // namespace primus::dist
