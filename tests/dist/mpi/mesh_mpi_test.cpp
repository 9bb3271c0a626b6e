// ProcessMesh groups at the size mpirun gave: for every factorization tensor x data x pipeline of
// the world, each group holds exactly the world ranks that share the other two coordinates, in
// order along its own axis.
#include <gtest/gtest.h>

#include "dist/mesh.h"
#include "world.h"

namespace primus::dist::testing {
namespace {

std::vector<int32_t> members(Comm& group) {
  std::vector<int32_t> out(group.size(), -1);
  int32_t me = group.world_rank();
  group.all_gather(Tensor{out.data(), DType::kI32, Shape{group.size()}, DeviceKind::kCPU},
                   Tensor{&me, DType::kI32, Shape{1}, DeviceKind::kCPU});
  return out;
}

TEST(ProcessMesh, GroupsFollowTensorDataPipelineOrder) {
  Comm& w = world();
  const int N = w.size();
  for (int tp = 1; tp <= N; ++tp) {
    for (int pp = 1; tp * pp <= N; ++pp) {
      if (N % (tp * pp)) continue;
      MeshShape shape{tp, N / (tp * pp), pp};
      ProcessMesh mesh(w, shape);
      const MeshCoord c = mesh.coord();
      ASSERT_EQ(mesh_rank(shape, c), w.rank());
      auto t = members(mesh.tensor()), d = members(mesh.data()), p = members(mesh.pipeline());
      ASSERT_EQ(static_cast<int>(t.size()), tp);
      ASSERT_EQ(static_cast<int>(d.size()), shape.data);
      ASSERT_EQ(static_cast<int>(p.size()), pp);
      for (int i = 0; i < tp; ++i) EXPECT_EQ(t[i], mesh_rank(shape, {i, c.data, c.pipeline}));
      for (int i = 0; i < shape.data; ++i) EXPECT_EQ(d[i], mesh_rank(shape, {c.tensor, i, c.pipeline}));
      for (int i = 0; i < pp; ++i) EXPECT_EQ(p[i], mesh_rank(shape, {c.tensor, c.data, i}));
      EXPECT_EQ(mesh.first_stage(), c.pipeline == 0);
      EXPECT_EQ(mesh.last_stage(), c.pipeline == pp - 1);
    }
  }
}

}  // namespace
}  // namespace primus::dist::testing
