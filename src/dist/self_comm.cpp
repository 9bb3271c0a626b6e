// SelfComm: collectives of a group of one. Host tensors are copied with memmove; a device tensor
// in a one-process group is only ever copied onto itself (in == out), which is checked.
#include "dist/self_comm.h"

#include <cstring>

namespace primus::dist {
namespace {

void copy_same(Tensor out, Tensor in) {
  PRIMUS_CHECK(out.nbytes() == in.nbytes(), "size mismatch: out {} bytes, in {} bytes", out.nbytes(),
               in.nbytes());
  if (out.data == in.data) return;
  PRIMUS_CHECK(out.device == DeviceKind::kCPU && in.device == DeviceKind::kCPU,
               "a one-process group copies only host tensors (or in == out)");
  std::memmove(out.data, in.data, in.nbytes());
}

}  // namespace

void SelfComm::all_reduce(Tensor, ReduceOp) {}
void SelfComm::reduce_scatter(Tensor out, Tensor in, ReduceOp) { copy_same(out, in); }
void SelfComm::all_gather(Tensor out, Tensor in) { copy_same(out, in); }
void SelfComm::broadcast(Tensor, int root) { PRIMUS_CHECK(root == 0, "root {} of a group of 1", root); }
void SelfComm::all_to_all(Tensor out, Tensor in) { copy_same(out, in); }

void SelfComm::send(Tensor, int peer) {
  PRIMUS_CHECK(false, "send to rank {} in a group of 1", peer);
}
void SelfComm::recv(Tensor, int peer) {
  PRIMUS_CHECK(false, "recv from rank {} in a group of 1", peer);
}

void SelfComm::exchange(std::span<const PeerTensor> sends, std::span<const PeerTensor> recvs) {
  PRIMUS_CHECK(sends.empty() && recvs.empty(), "exchange of {} sends and {} receives in a group of 1", sends.size(),
               recvs.size());
}

std::unique_ptr<Comm> SelfComm::split(int, int) { return std::make_unique<SelfComm>(); }

void SelfComm::abort(const std::string& message) { throw Error(message); }

}  // namespace primus::dist
