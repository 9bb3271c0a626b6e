// The process mesh: tensor-parallel ranks fastest, then data, then pipeline (Megatron's order), so
// world rank = tp + tensor * (dp + data * pp). Layout validation against a model and world size
// collects every problem and throws one usage error naming the numbers.
#pragma once
#include <memory>

#include "config/experiment.h"
#include "dist/comm.h"

namespace primus::dist {

struct MeshShape {
  int tensor = 1;     // tensor-parallel size (fastest varying)
  int data = 1;       // data-parallel size
  int pipeline = 1;   // pipeline-parallel size (slowest varying)
  int world() const { return tensor * data * pipeline; }
};

struct MeshCoord {
  int tensor = 0;
  int data = 0;
  int pipeline = 0;
};

MeshCoord mesh_coord(const MeshShape& shape, int rank);
int mesh_rank(const MeshShape& shape, const MeshCoord& coord);

// The mesh of `cfg.parallel` on `world_size` processes. Throws primus::usage_error listing every
// impossible choice: world size not a multiple of tensor*pipeline, heads / KV heads / FFN / padded
// vocab not divisible by tensor, layers not divisible by pipeline*virtual_pipeline, global batch
// not a multiple of micro batch * data, sequence parallel without tensor parallel, zero not 0|1.
MeshShape validate_layout(const config::ExperimentConfig& cfg, int world_size);

// The groups of one process: world, and its tensor, data and pipeline sub-communicators.
class ProcessMesh {
 public:
  // Collective over `world` (splits it three times). `world` must outlive the mesh.
  ProcessMesh(Comm& world, const MeshShape& shape);
  const MeshShape& shape() const { return shape_; }
  const MeshCoord& coord() const { return coord_; }
  Comm& world() { return world_; }
  Comm& tensor() { return *tensor_; }
  Comm& data() { return *data_; }
  Comm& pipeline() { return *pipeline_; }
  bool first_stage() const { return coord_.pipeline == 0; }
  bool last_stage() const { return coord_.pipeline == shape_.pipeline - 1; }

 private:
  Comm& world_;
  MeshShape shape_;
  MeshCoord coord_;
  std::unique_ptr<Comm> tensor_;     // ranks sharing (data, pipeline)
  std::unique_ptr<Comm> data_;       // ranks sharing (tensor, pipeline)
  std::unique_ptr<Comm> pipeline_;   // ranks sharing (tensor, data)
};

}  // namespace primus::dist
