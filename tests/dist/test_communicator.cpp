// Communicator collectives at 1 and 2 ranks: tensor all-reduce (sum, mean, max) with
// bucketing (one call per bucket), broadcast, scalar reductions, prefix sums, all-gather
// of variable-size buffers, and the log-sum-exp all-reduce against a serial
// log-sum-exp (|x| ~ 1e4, -inf entries).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "disa/core/error.hpp"
#include "disa/core/logsumexp.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/mpi_context.hpp"

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The tensor and scalar reductions below are checked bitwise: their values are small
// integers (and halves), whose sums are exact in fp32 and fp64 in any order, and a mean
// divides such a sum by the rank count with an exactly representable quotient (division
// is correctly rounded).

class CommunicatorTest : public testing::Test {
 protected:
  void SetUp() override { comm = disa::dist::make_mpi_communicator(MPI_COMM_WORLD); }
  std::unique_ptr<disa::dist::Communicator> comm;
};

TEST_F(CommunicatorTest, AllReduceSumMeanMaxOnTensors) {
  const int r = comm->rank(), n = comm->size();
  std::vector<torch::Tensor> ts{torch::full({2, 3}, double(r + 1), torch::kFloat64),
                                torch::arange(5, torch::kFloat32) * float(r + 1),
                                torch::full({4}, int64_t(r), torch::kInt64)};
  comm->all_reduce(ts, disa::dist::ReduceOp::Sum);
  double s = n * (n + 1) / 2.0;
  EXPECT_TRUE(torch::equal(ts[0], torch::full({2, 3}, s, torch::kFloat64)));
  EXPECT_TRUE(torch::equal(ts[1], torch::arange(5, torch::kFloat32) * float(s)));
  EXPECT_TRUE(torch::equal(ts[2], torch::full({4}, int64_t(n * (n - 1) / 2), torch::kInt64)));

  auto m = torch::full({3}, float(r), torch::kFloat32);
  comm->all_reduce(m, disa::dist::ReduceOp::Mean);
  EXPECT_TRUE(torch::equal(m, torch::full({3}, (n - 1) / 2.0f)));
  auto x = torch::tensor({double(r), -double(r)});
  comm->all_reduce(x, disa::dist::ReduceOp::Max);
  EXPECT_EQ(x[0].item<double>(), n - 1);
  EXPECT_EQ(x[1].item<double>(), 0.0);
}

TEST_F(CommunicatorTest, ManySmallTensorsTravelInOneCallPerBucket) {
  std::vector<torch::Tensor> ts;
  for (int i = 0; i < 50; ++i) ts.push_back(torch::ones({10, 10}, torch::kFloat32));  // 400 B each
  int64_t before = comm->collective_calls();
  comm->all_reduce(ts, disa::dist::ReduceOp::Sum);
  EXPECT_EQ(comm->collective_calls() - before, 1);
  // With a 4000-byte bucket the 20000 bytes need 5 calls.
  comm->set_bucket_bytes(4000);
  before = comm->collective_calls();
  comm->all_reduce(ts, disa::dist::ReduceOp::Sum);
  EXPECT_EQ(comm->collective_calls() - before, 5);
  const double n = comm->size();
  for (auto& t : ts) EXPECT_TRUE(torch::equal(t, torch::full_like(t, n * n)));
  // Two dtypes: separate buckets.
  std::vector<torch::Tensor> mixed{torch::ones({3}, torch::kFloat32), torch::ones({3}, torch::kFloat64),
                                   torch::ones({3}, torch::kFloat32)};
  comm->set_bucket_bytes(size_t(32) << 20);
  before = comm->collective_calls();
  comm->all_reduce(mixed, disa::dist::ReduceOp::Sum);
  EXPECT_EQ(comm->collective_calls() - before, 2);
  for (auto& t : mixed) EXPECT_TRUE(torch::equal(t, torch::full_like(t, n)));
}

TEST_F(CommunicatorTest, GradientsAllReduceInPlace) {
  // Parameter gradients (views into a module) are updated in place.
  torch::nn::Linear lin(4, 3);
  auto out = lin->forward(torch::ones({2, 4}) * float(comm->rank() + 1)).sum();
  out.backward();
  std::vector<torch::Tensor> grads;
  for (auto& p : lin->parameters()) grads.push_back(p.grad());
  auto local_weight_grad = lin->weight.grad().clone();
  comm->all_reduce(grads, disa::dist::ReduceOp::Mean);
  // d(sum)/dW = 2 * (rank + 1) per entry; the mean over ranks is (n + 1).
  double n = comm->size();
  // Each local gradient is a sum of two equal small integers (exact), the mean an exact
  // quotient: bitwise.
  EXPECT_TRUE(torch::equal(lin->weight.grad(), torch::full({3, 4}, n + 1.0)));
  EXPECT_TRUE(torch::equal(lin->bias.grad(), torch::full({3}, 2.0)));
  (void)local_weight_grad;
}

TEST_F(CommunicatorTest, BroadcastOverwritesWithRoot) {
  std::vector<torch::Tensor> ts{torch::full({3}, float(comm->rank() + 10)),
                                torch::full({2, 2}, int64_t(comm->rank()), torch::kInt64)};
  comm->broadcast(ts, 0);
  EXPECT_TRUE(torch::equal(ts[0], torch::full({3}, 10.0f)));
  EXPECT_TRUE(torch::equal(ts[1], torch::zeros({2, 2}, torch::kInt64)));
  std::string s = comm->rank() == 0 ? "from root" : "";
  comm->broadcast(s, 0);
  EXPECT_EQ(s, "from root");
}

TEST_F(CommunicatorTest, ScalarsAndPrefixSums) {
  const int r = comm->rank(), n = comm->size();
  EXPECT_EQ(comm->all_reduce(int64_t(r + 1), disa::dist::ReduceOp::Sum), int64_t(n) * (n + 1) / 2);
  EXPECT_EQ(comm->all_reduce(double(r), disa::dist::ReduceOp::Min), 0.0);
  EXPECT_EQ(comm->all_reduce(double(r), disa::dist::ReduceOp::Mean), (n - 1) / 2.0);
  EXPECT_EQ(comm->exclusive_prefix_sum(10), 10 * r);
  std::vector<double> v{double(r), 1.0};
  comm->all_reduce(v, disa::dist::ReduceOp::Sum);
  EXPECT_EQ(v[1], n);
}

TEST_F(CommunicatorTest, AllGatherVariableSizeIncludingEmpty) {
  const int r = comm->rank();
  std::string mine = r == 0 ? "" : std::string(size_t(1000 * r), char('A' + r));
  auto all = comm->all_gather(mine);
  ASSERT_EQ(int(all.size()), comm->size());
  EXPECT_TRUE(all[0].empty());
  for (int k = 1; k < comm->size(); ++k) EXPECT_EQ(all[k], std::string(size_t(1000 * k), char('A' + k)));
}

TEST_F(CommunicatorTest, LogSumExpAllReduceEqualsSerial) {
  const int r = comm->rank(), n = comm->size();
  // Column j holds, on rank r, value f(j, r); the reduction must equal a serial
  // log-sum-exp over r of f(j, r).
  auto f = [](int j, int rank) -> double {
    switch (j) {
      case 0: return 1e4 + 0.5 * rank;
      case 1: return -1e4 - rank;
      case 2: return rank == 0 ? -kInf : 3.0 * rank;  // -inf on one rank only
      case 3: return -kInf;                           // -inf everywhere
      default: return std::sin(double(j + rank));
    }
  };
  std::vector<double> local(10), expected(10);
  for (int j = 0; j < 10; ++j) {
    local[j] = f(j, r);
    std::vector<double> column;
    for (int k = 0; k < n; ++k) column.push_back(f(j, k));
    expected[j] = disa::core::logsumexp(column);
  }
  comm->all_reduce_logsumexp(local);
  // Error model: the reduction merges the (max, scaled sum) pairs in another grouping than
  // the serial loop. Each merge rounds the scaled sum two or three times (relative eps / 2
  // each), moving log(s) by <~ 2 eps, over n - 1 merges on either side; the final
  // m + log(s) rounds by <= eps |value| on either side. Tolerance eps (2 max(1, |value|) +
  // 4 n): 4.4e-12 at |value| = 1e4. (At 1 and 2 ranks the merge is commutative and the
  // result bitwise equal.) A rank dropped or counted twice moves a column by >= 0.1.
  const double eps = std::numeric_limits<double>::epsilon();
  for (int j = 0; j < 10; ++j) {
    if (std::isinf(expected[j])) {
      EXPECT_TRUE(std::isinf(local[j]) && local[j] < 0) << j;
    } else {
      EXPECT_NEAR(local[j], expected[j], eps * (2 * std::max(1.0, std::abs(expected[j])) + 4.0 * n)) << j;
    }
  }
}

TEST_F(CommunicatorTest, LogSumExpRejectsNaN) {
  std::vector<double> v{std::nan("")};
  EXPECT_THROW(comm->all_reduce_logsumexp(v), disa::core::DistError);
}

TEST(MpiContext, NodeLocalRanks) {
  auto& mpi = disa::dist::MpiContext::get();
  EXPECT_GE(mpi.local_rank(), 0);
  EXPECT_LT(mpi.local_rank(), mpi.local_size());
  EXPECT_EQ(mpi.num_nodes(), 1);  // tests run on one machine
  EXPECT_EQ(mpi.local_size(), mpi.size());
  EXPECT_FALSE(mpi.node_name().empty());
}

}  // namespace
