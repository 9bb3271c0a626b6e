// CUDA graph capture and replay (see graph.h).
#include "cuda/graph.h"

#include "core/error.h"
#include "cuda/cuda_check.h"

namespace primus::cuda {

void StreamGraph::begin(cudaStream_t stream) {
  PRIMUS_CHECK(!capturing_, "graph_begin() while a capture is open");
  reset();
  PRIMUS_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
  capturing_ = true;
}

void StreamGraph::end(cudaStream_t stream) {
  PRIMUS_CHECK(capturing_, "graph_end() without graph_begin()");
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  PRIMUS_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  const cudaError_t st = cudaGraphInstantiate(&exec_, graph, 0);
  cudaGraphDestroy(graph);
  if (st != cudaSuccess) exec_ = nullptr;
  PRIMUS_CUDA_CHECK(st);
}

bool StreamGraph::replay(cudaStream_t stream) {
  if (!exec_) return false;
  PRIMUS_CUDA_CHECK(cudaGraphLaunch(exec_, stream));
  return true;
}

void StreamGraph::reset() {
  if (exec_) cudaGraphExecDestroy(exec_);
  exec_ = nullptr;
}

}  // namespace primus::cuda
