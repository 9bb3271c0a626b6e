// MpiComm: non-blocking MPI calls waited on by a polling loop with a deadline (the watchdog).
// Polling spins briefly, then sleeps in short slices so oversubscribed ranks leave the cores to the
// ones doing work. kAvg is a sum followed by a host-side division. bf16 reductions use user ops
// that accumulate in fp32 per pair.
#include "dist/mpi_comm.h"

#include <chrono>
#include <climits>
#include <cstdio>
#include <exception>
#include <thread>

namespace primus::dist {
namespace {

#define PRIMUS_MPI_CHECK(call)                                                        \
  do {                                                                                \
    int rc_ = (call);                                                                 \
    if (rc_ != MPI_SUCCESS) mpi_failed(rc_, #call);                                   \
  } while (0)

[[noreturn]] void mpi_failed(int rc, const char* call) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "error: rank %d: MPI call %s failed: %.*s\n", rank, call, len, text);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

template <typename F>
void bf16_reduce(void* in, void* inout, int* len, F f) {
  auto* a = static_cast<const uint16_t*>(in);
  auto* b = static_cast<uint16_t*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = bf16_from_float(f(bf16_to_float(a[i]), bf16_to_float(b[i])));
}
void bf16_sum(void* in, void* inout, int* len, MPI_Datatype*) {
  bf16_reduce(in, inout, len, [](float x, float y) { return x + y; });
}
void bf16_max(void* in, void* inout, int* len, MPI_Datatype*) {
  bf16_reduce(in, inout, len, [](float x, float y) { return x > y ? x : y; });
}
void bf16_min(void* in, void* inout, int* len, MPI_Datatype*) {
  bf16_reduce(in, inout, len, [](float x, float y) { return x < y ? x : y; });
}

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::kF32: return MPI_FLOAT;
    case DType::kI32: return MPI_INT32_T;
    case DType::kI64: return MPI_INT64_T;
    case DType::kBF16: case DType::kF16: case DType::kU16: return MPI_UINT16_T;
    case DType::kU8: return MPI_UINT8_T;
  }
  return MPI_BYTE;
}

// t /= n on the host, for kAvg.
void divide(Tensor t, int n) {
  int64_t count = t.numel();
  switch (t.dtype) {
    case DType::kF32: { float* p = t.ptr<float>(); for (int64_t i = 0; i < count; ++i) p[i] /= n; break; }
    case DType::kI32: { auto* p = t.ptr<int32_t>(); for (int64_t i = 0; i < count; ++i) p[i] /= n; break; }
    case DType::kI64: { auto* p = t.ptr<int64_t>(); for (int64_t i = 0; i < count; ++i) p[i] /= n; break; }
    case DType::kBF16: {
      auto* p = t.ptr<uint16_t>();
      for (int64_t i = 0; i < count; ++i) p[i] = bf16_from_float(bf16_to_float(p[i]) / n);
      break;
    }
    default: PRIMUS_CHECK(false, "average of {} tensors", dtype_name(t.dtype));
  }
}

void check_host(Tensor t, const char* what) {
  if (t.device != DeviceKind::kCPU) {
    throw Error(fmt::format("{} over MPI got a device tensor", what),
                "the MPI communicator moves host tensors; GPU runs use the NCCL communicator");
  }
}

}  // namespace

MpiRuntime::MpiRuntime() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    PRIMUS_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
    owns_init_ = true;
  }
  PRIMUS_MPI_CHECK(MPI_Op_create(&bf16_sum, 1, &bf16_sum_));
  PRIMUS_MPI_CHECK(MPI_Op_create(&bf16_max, 1, &bf16_max_));
  PRIMUS_MPI_CHECK(MPI_Op_create(&bf16_min, 1, &bf16_min_));
}

std::shared_ptr<MpiRuntime> MpiRuntime::acquire() {
  static std::weak_ptr<MpiRuntime> current;
  std::shared_ptr<MpiRuntime> rt = current.lock();
  if (!rt) {
    rt = std::make_shared<MpiRuntime>();
    current = rt;
  }
  return rt;
}

MpiRuntime::~MpiRuntime() {
  if (std::uncaught_exceptions() > 0) return;   // see the header: never finalize while failing
  int done = 0;
  MPI_Finalized(&done);
  if (done) return;                              // someone else finalized MPI already
  MPI_Op_free(&bf16_sum_);
  MPI_Op_free(&bf16_max_);
  MPI_Op_free(&bf16_min_);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_init_ && !finalized) MPI_Finalize();
}

MPI_Op MpiRuntime::bf16_op(ReduceOp op) const {
  switch (op) {
    case ReduceOp::kMax: return bf16_max_;
    case ReduceOp::kMin: return bf16_min_;
    default: return bf16_sum_;
  }
}

MpiComm::MpiComm(MPI_Comm comm, std::shared_ptr<MpiRuntime> runtime, double timeout_s)
    : comm_(comm), runtime_(std::move(runtime)), timeout_s_(timeout_s) {
  PRIMUS_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  PRIMUS_MPI_CHECK(MPI_Comm_size(comm_, &size_));
  PRIMUS_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank_));
}

MpiComm::~MpiComm() {
  if (comm_ != MPI_COMM_WORLD && comm_ != MPI_COMM_NULL && std::uncaught_exceptions() == 0) {
    MPI_Comm_free(&comm_);
  }
}

void MpiComm::wait(MPI_Request& request, const char* what) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s_);
  int done = 0;
  for (int polls = 0;; ++polls) {
    PRIMUS_MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    if (polls > 200) std::this_thread::sleep_for(std::chrono::microseconds(polls > 20000 ? 1000 : 20));
    if ((polls & 63) == 0 && Clock::now() > deadline) {
      abort(fmt::format("{} on a group of {} did not complete within {:g} s (PRIMUS_COMM_TIMEOUT_S); "
                        "a peer rank died or is stuck", what, size_, timeout_s_));
    }
  }
}

MPI_Op MpiComm::mpi_op(ReduceOp op, DType dtype) const {
  if (dtype == DType::kBF16) return runtime_->bf16_op(op);
  PRIMUS_CHECK(dtype == DType::kF32 || dtype == DType::kI32 || dtype == DType::kI64,
               "MPI reduction of {} tensors is not supported", dtype_name(dtype));
  switch (op) {
    case ReduceOp::kMax: return MPI_MAX;
    case ReduceOp::kMin: return MPI_MIN;
    default: return MPI_SUM;
  }
}

int MpiComm::count_of(Tensor t, const char* what) const {
  check_host(t, what);
  PRIMUS_CHECK(t.numel() <= INT_MAX, "{} of {} elements exceeds MPI's int count", what, t.numel());
  return static_cast<int>(t.numel());
}

void MpiComm::all_reduce(Tensor t, ReduceOp op) {
  int n = count_of(t, "all_reduce");
  MPI_Request req;
  PRIMUS_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, t.data, n, mpi_type(t.dtype), mpi_op(op, t.dtype), comm_, &req));
  wait(req, "all_reduce");
  if (op == ReduceOp::kAvg && size_ > 1) divide(t, size_);
}

// An MPI_Iallreduce in flight.
class MpiRequest final : public CommRequest {
 public:
  MpiRequest(MpiComm& comm, Tensor t, ReduceOp op) : comm_(comm), t_(t), op_(op) {}
  ~MpiRequest() override {
    if (!done_ && std::uncaught_exceptions() == 0) wait();
  }
  MPI_Request& request() { return req_; }
  void wait() override {
    if (done_) return;
    comm_.wait(req_, "all_reduce");
    finish();
  }
  bool test() override {
    if (done_) return true;
    int flag = 0;
    PRIMUS_MPI_CHECK(MPI_Test(&req_, &flag, MPI_STATUS_IGNORE));
    if (flag) finish();
    return done_;
  }

 private:
  void finish() {
    if (op_ == ReduceOp::kAvg && comm_.size() > 1) divide(t_, comm_.size());
    done_ = true;
  }
  MpiComm& comm_;
  Tensor t_;
  ReduceOp op_;
  MPI_Request req_ = MPI_REQUEST_NULL;
  bool done_ = false;
};

std::unique_ptr<CommRequest> MpiComm::all_reduce_start(Tensor t, ReduceOp op, void*) {
  int n = count_of(t, "all_reduce");
  auto r = std::make_unique<MpiRequest>(*this, t, op);
  PRIMUS_MPI_CHECK(
      MPI_Iallreduce(MPI_IN_PLACE, t.data, n, mpi_type(t.dtype), mpi_op(op, t.dtype), comm_, &r->request()));
  return r;
}

void MpiComm::reduce_scatter(Tensor out, Tensor in, ReduceOp op) {
  int n = count_of(out, "reduce_scatter");
  PRIMUS_CHECK(in.numel() == static_cast<int64_t>(n) * size_ && in.dtype == out.dtype,
               "reduce_scatter: in has {} elements, out {} x group {}", in.numel(), n, size_);
  count_of(in, "reduce_scatter");
  MPI_Request req;
  PRIMUS_MPI_CHECK(MPI_Ireduce_scatter_block(in.data, out.data, n, mpi_type(out.dtype),
                                             mpi_op(op, out.dtype), comm_, &req));
  wait(req, "reduce_scatter");
  if (op == ReduceOp::kAvg && size_ > 1) divide(out, size_);
}

void MpiComm::all_gather(Tensor out, Tensor in) {
  int n = count_of(in, "all_gather");
  PRIMUS_CHECK(out.numel() == static_cast<int64_t>(n) * size_ && in.dtype == out.dtype,
               "all_gather: out has {} elements, in {} x group {}", out.numel(), n, size_);
  count_of(out, "all_gather");
  MPI_Datatype type = mpi_type(in.dtype);
  // In place when `in` is this rank's chunk of `out` (the ZeRO-1 parameter gather).
  const void* send = in.data == static_cast<char*>(out.data) + rank_ * in.nbytes() ? MPI_IN_PLACE : in.data;
  MPI_Request req;
  PRIMUS_MPI_CHECK(MPI_Iallgather(send, n, type, out.data, n, type, comm_, &req));
  wait(req, "all_gather");
}

void MpiComm::broadcast(Tensor t, int root) {
  int n = count_of(t, "broadcast");
  PRIMUS_CHECK(root >= 0 && root < size_, "broadcast root {} of a group of {}", root, size_);
  MPI_Request req;
  PRIMUS_MPI_CHECK(MPI_Ibcast(t.data, n, mpi_type(t.dtype), root, comm_, &req));
  wait(req, "broadcast");
}

void MpiComm::all_to_all(Tensor out, Tensor in) {
  int n = count_of(in, "all_to_all");
  count_of(out, "all_to_all");
  PRIMUS_CHECK(in.numel() == out.numel() && n % size_ == 0 && in.dtype == out.dtype,
               "all_to_all: in {} and out {} elements over a group of {}", in.numel(), out.numel(), size_);
  MPI_Datatype type = mpi_type(in.dtype);
  MPI_Request req;
  PRIMUS_MPI_CHECK(MPI_Ialltoall(in.data, n / size_, type, out.data, n / size_, type, comm_, &req));
  wait(req, "all_to_all");
}

void MpiComm::send(Tensor t, int peer) {
  int n = count_of(t, "send");
  PRIMUS_CHECK(peer >= 0 && peer < size_ && peer != rank_, "send to rank {} in a group of {}", peer, size_);
  MPI_Request req;
  PRIMUS_MPI_CHECK(MPI_Isend(t.data, n, mpi_type(t.dtype), peer, 0, comm_, &req));
  wait(req, "send");
}

void MpiComm::recv(Tensor t, int peer) {
  int n = count_of(t, "recv");
  PRIMUS_CHECK(peer >= 0 && peer < size_ && peer != rank_, "recv from rank {} in a group of {}", peer, size_);
  MPI_Request req;
  PRIMUS_MPI_CHECK(MPI_Irecv(t.data, n, mpi_type(t.dtype), peer, 0, comm_, &req));
  wait(req, "recv");
}

void MpiComm::exchange(std::span<const PeerTensor> sends, std::span<const PeerTensor> recvs) {
  std::vector<MPI_Request> requests;   // every receive and send posted before any is waited on
  for (const PeerTensor& r : recvs) {
    PRIMUS_CHECK(r.peer >= 0 && r.peer < size_ && r.peer != rank_, "recv from rank {} in a group of {}", r.peer, size_);
    PRIMUS_MPI_CHECK(MPI_Irecv(r.tensor.data, count_of(r.tensor, "recv"), mpi_type(r.tensor.dtype), r.peer, 0, comm_,
                               &requests.emplace_back()));
  }
  for (const PeerTensor& s : sends) {
    PRIMUS_CHECK(s.peer >= 0 && s.peer < size_ && s.peer != rank_, "send to rank {} in a group of {}", s.peer, size_);
    PRIMUS_MPI_CHECK(MPI_Isend(s.tensor.data, count_of(s.tensor, "send"), mpi_type(s.tensor.dtype), s.peer, 0, comm_,
                               &requests.emplace_back()));
  }
  for (MPI_Request& r : requests) wait(r, "exchange (send/recv)");
}

void MpiComm::barrier() {
  MPI_Request req;
  PRIMUS_MPI_CHECK(MPI_Ibarrier(comm_, &req));
  wait(req, "barrier");
}

std::unique_ptr<Comm> MpiComm::split(int color, int key) {
  MPI_Comm sub = MPI_COMM_NULL;
  PRIMUS_MPI_CHECK(MPI_Comm_split(comm_, color, key, &sub));
  return std::make_unique<MpiComm>(sub, runtime_, timeout_s_);
}

void MpiComm::abort(const std::string& message) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  std::fprintf(stderr, "error: rank %d of %d: %s\n", world_rank_, world, message.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

}  // namespace primus::dist
