// Host-side moves between a full-model tensor and the slice one tensor-parallel rank holds
// (ParamInfo::slice, see model.h): what init, checkpoint save (gather) and load (slice) use.
// Both sides are row-major fp32 host arrays: `full` of info.full_shape, `local` of info.shape.
#pragma once
#include <span>

#include "models/model.h"

namespace primus::models {

// local (info.shape) = this rank's part of full (info.full_shape).
void shard_extract(std::span<float> local, std::span<const float> full, const ParamInfo& info);
// Writes local (info.shape) into its place in full (info.full_shape); the rest of full is untouched.
void shard_insert(std::span<float> full, std::span<const float> local, const ParamInfo& info);

}  // namespace primus::models
