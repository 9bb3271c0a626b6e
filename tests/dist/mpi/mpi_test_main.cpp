// GoogleTest main for the multi-process tests: run under `mpirun -np N`. The world communicator is
// made once (MPI can be initialized once per process); only rank 0 prints results, and every rank
// exits with the same code, non-zero if any rank failed a test.
#include <gtest/gtest.h>

#include "world.h"

namespace primus::dist::testing {

Comm& world() {
  static std::unique_ptr<Comm> comm = make_world_comm();
  return *comm;
}

}  // namespace primus::dist::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  primus::dist::Comm& world = primus::dist::testing::world();
  if (world.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  primus::Tensor flag{&failed, primus::DType::kI32, primus::Shape{1}, primus::DeviceKind::kCPU};
  world.all_reduce(flag, primus::dist::ReduceOp::kMax);
  if (failed && world.rank() == 0) std::fprintf(stderr, "some rank failed a test (see its output above)\n");
  return failed;
}
