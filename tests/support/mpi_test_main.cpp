// GoogleTest main for tests run under mpirun: initialises MPI through MpiContext,
// prints results on rank 0 only (other ranks report failures), and makes the exit code
// non-zero on every rank if any rank failed, so mpirun reports the failure.
#include <gtest/gtest.h>

#include "disa/dist/mpi_context.hpp"

namespace {
// Prints only failures, prefixed with the rank (for ranks other than 0).
class RankFailurePrinter : public testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "[rank %d] FAILURE %s:%d: %s\n", rank_, r.file_name() ? r.file_name() : "?", r.line_number(),
                   r.summary());
  }

 private:
  int rank_;
};
}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  disa::dist::MpiContext mpi(&argc, &argv);
  if (mpi.rank() != 0) {
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(mpi.rank()));
  }
  int rc = RUN_ALL_TESTS();
  int any = rc != 0 ? 1 : 0, all = 0;
  MPI_Allreduce(&any, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return all ? 1 : 0;
}
