// Host-side moves between a full-model tensor and the slice one tensor-parallel rank holds
// (ParamInfo::slice, see model.h): what init, checkpoint save (gather) and load (slice) use.
// Both sides are row-major fp32 host arrays: `full` of info.full_shape, `local` of info.shape.
#pragma once
#include <span>
#include <vector>

#include "models/model.h"

namespace primus::models {

// local (info.shape) = this rank's part of full (info.full_shape).
void shard_extract(std::span<float> local, std::span<const float> full, const ParamInfo& info);
// Writes local (info.shape) into its place in full (info.full_shape); the rest of full is untouched.
void shard_insert(std::span<float> full, std::span<const float> local, const ParamInfo& info);

// The full model's flat parameter layout (plan_params(cfg) with tp = 1) <-> a tensor-parallel
// rank's flat buffer (model.params() order), on the host, parameter by parameter by name.
// full_from_local: this rank's parts inserted into zeros (replicated parameters only when
// `replicated` is true, so that summing over the tensor group counts them once).
std::vector<float> full_from_local(const Model& model, std::span<const float> local, bool replicated);
std::vector<float> local_from_full(const Model& model, std::span<const float> full);

}  // namespace primus::models
