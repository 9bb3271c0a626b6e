// Column- and row-parallel linears (see tensor_parallel.h).
#include "dist/tensor_parallel.h"

namespace primus::dist {

void column_parallel_forward(Backend& backend, Tensor out, Tensor inp, Tensor weight, Tensor bias) {
  backend.matmul_forward(out, inp, weight, bias);
}

void column_parallel_backward(Backend& backend, Comm& tp, Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout,
                              Tensor inp, Tensor weight) {
  backend.fill(dinp, 0.0f);
  backend.matmul_backward(dinp, dweight, dbias, dout, inp, weight);
  tp.all_reduce(dinp, ReduceOp::kSum);
}

void row_parallel_forward(Backend& backend, Comm& tp, Tensor out, Tensor inp, Tensor weight, Tensor bias) {
  backend.matmul_forward(out, inp, weight, tp.rank() == 0 ? bias : Tensor{});
  tp.all_reduce(out, ReduceOp::kSum);
}

void row_parallel_backward(Backend& backend, Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp,
                           Tensor weight) {
  backend.matmul_backward(dinp, dweight, dbias, dout, inp, weight);
}

}  // namespace primus::dist
