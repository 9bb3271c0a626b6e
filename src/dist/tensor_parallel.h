// Megatron-style tensor-parallel linear layers over the tensor group's Comm and a Backend, the
// building blocks of a tensor-parallel MLP or attention block (column-parallel in, row-parallel
// out: one all-reduce forward, one backward). Not yet used by the models.
//  - Column-parallel: weight (OC, C) split by rows; rank r holds rows [r*OC/tp, (r+1)*OC/tp) and
//    its bias slice; each rank computes its slice of the output, no communication forward;
//    backward all-reduces the input gradient.
//  - Row-parallel: weight (OC, C) split by columns; rank r holds the (OC, C/tp) block for its
//    input slice; forward all-reduces the partial outputs (the replicated bias is added once).
// d* outputs accumulate (+=) like the Backend's, except where noted.
#pragma once
#include "backend/backend.h"
#include "dist/comm.h"

namespace primus::dist {

// out (N, OC/tp) = inp (N, C) @ weight (OC/tp, C)^T + bias (OC/tp) (bias may be empty).
void column_parallel_forward(Backend& backend, Tensor out, Tensor inp, Tensor weight, Tensor bias);
// dinp (N, C) is WRITTEN: the sum over the group of every rank's dout @ weight. dweight, dbias
// (this rank's slices) accumulate.
void column_parallel_backward(Backend& backend, Comm& tp, Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout,
                              Tensor inp, Tensor weight);
// out (N, OC) is WRITTEN = sum over the group of inp (N, C/tp) @ weight (OC, C/tp)^T, plus bias (OC)
// (replicated on every rank, added once).
void row_parallel_forward(Backend& backend, Comm& tp, Tensor out, Tensor inp, Tensor weight, Tensor bias);
// dinp (N, C/tp), dweight (OC, C/tp), dbias (OC) accumulate; no communication (dout is replicated).
void row_parallel_backward(Backend& backend, Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp,
                           Tensor weight);

}  // namespace primus::dist
