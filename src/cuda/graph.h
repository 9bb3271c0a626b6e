// One recorded CUDA graph per backend: stream capture of a static sequence of launches and its
// replay on the same stream (cudaStreamCaptureModeRelaxed: host-side queries such as kernel
// attributes stay allowed; a synchronisation inside the capture still fails, naming the call).
#pragma once
#include <cuda_runtime.h>

namespace primus::cuda {

class StreamGraph {
 public:
  StreamGraph() = default;
  StreamGraph(const StreamGraph&) = delete;
  StreamGraph& operator=(const StreamGraph&) = delete;
  ~StreamGraph() { reset(); }

  void begin(cudaStream_t stream);
  void end(cudaStream_t stream);
  bool replay(cudaStream_t stream);   // false: nothing recorded
  void reset();
  bool capturing() const { return capturing_; }
  bool ready() const { return exec_ != nullptr; }

 private:
  cudaGraphExec_t exec_ = nullptr;
  bool capturing_ = false;
};

}  // namespace primus::cuda
