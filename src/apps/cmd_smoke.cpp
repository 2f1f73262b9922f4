// `disa smoke`: a quick end-to-end check of the distributed runtime on the machine at
// hand: tensor all-reduce (bucketed), scalar and log-sum-exp all-reduce, variable-size
// all-gather, and a collective parallel-HDF5 write (uneven slabs, an empty one
// included) that is read back, verified and committed atomically. Also the fault
// injection used to test that a failing rank takes the whole job down.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include <torch/torch.h>

#include "command.hpp"
#include "disa/core/log.hpp"
#include "disa/core/logsumexp.hpp"
#include "disa/core/table.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/io/hdf5.hpp"

namespace disa::apps {
namespace {

int run_smoke(const std::vector<std::string>& args, dist::MpiContext& mpi) {
  core::Options options("smoke",
                        "Check the communicator and the parallel HDF5 layer on this machine/job and "
                        "print one PASS/FAIL line per check (exit code 1 on any failure).");
  options.add_string("smoke.out", "smoke.h5", "the HDF5 file to write (overwritten)");
  options.add_int("smoke.rows", 1000, "rows written by the last rank (rank r writes r*rows/(size-1))");
  options.add_int("smoke.fail-on-rank", -1,
                  "fault injection: this rank throws while the others wait in a barrier (-1: off)");
  auto config = parse_command(options, args, mpi);
  if (!config) return 0;
  config->require(config->get_int("smoke.rows") >= 0, "smoke.rows", "must be >= 0");

  auto comm = dist::make_mpi_communicator(mpi.world());
  const int rank = comm->rank(), size = comm->size();
  if (config->get_int("smoke.fail-on-rank") == rank)
    DISA_THROW(DataError, "fault injected on rank {} (--smoke.fail-on-rank)", rank);
  if (config->get_int("smoke.fail-on-rank") >= 0) comm->barrier();  // the others wait here

  std::vector<std::pair<std::string, bool>> checks;
  auto check = [&](const std::string& name, bool ok) {
    // A check passes only if it passed on every rank.
    int64_t all_ok = comm->all_reduce(int64_t(ok ? 1 : 0), dist::ReduceOp::Min);
    checks.emplace_back(name, all_ok == 1);
  };

  // Tensor all-reduce over several small tensors: one bucket, one call.
  {
    std::vector<torch::Tensor> ts;
    for (int i = 0; i < 5; ++i) ts.push_back(torch::full({3, i + 1}, double(rank + 1), torch::kFloat64));
    int64_t before = comm->collective_calls();
    comm->all_reduce(ts, dist::ReduceOp::Sum);
    double expect = size * (size + 1) / 2.0;
    bool ok = comm->collective_calls() - before == 1;
    for (auto& t : ts) ok = ok && torch::allclose(t, torch::full_like(t, expect));
    check("tensor all-reduce (5 tensors, 1 bucket)", ok);
    std::vector<torch::Tensor> means{torch::full({4}, float(rank), torch::kFloat32)};
    comm->all_reduce(means, dist::ReduceOp::Mean);
    check("tensor all-reduce mean", torch::allclose(means[0], torch::full({4}, (size - 1) / 2.0f)));
  }
  // Scalars, prefix sums, gather.
  check("scalar all-reduce max", comm->all_reduce(double(rank), dist::ReduceOp::Max) == size - 1);
  check("exclusive prefix sum", comm->exclusive_prefix_sum(rank + 1) == int64_t(rank) * (rank + 1) / 2);
  {
    auto all = comm->all_gather(std::string(size_t(rank), char('a' + rank % 26)));
    bool ok = int(all.size()) == size;
    for (int r = 0; ok && r < size; ++r) ok = all[r] == std::string(size_t(r), char('a' + r % 26));
    check("all-gather of variable-size buffers (rank 0 empty)", ok);
  }
  // Log-sum-exp of large magnitudes and -inf entries.
  {
    std::vector<double> local{1e4 + rank, -1e4 - rank, -std::numeric_limits<double>::infinity(),
                              rank == 0 ? 0.0 : -std::numeric_limits<double>::infinity()};
    std::vector<double> reduced = local;
    comm->all_reduce_logsumexp(reduced);
    std::vector<double> col0, col1;
    for (int r = 0; r < size; ++r) col0.push_back(1e4 + r), col1.push_back(-1e4 - r);
    bool ok = std::abs(reduced[0] - core::logsumexp(col0)) < 1e-9 &&
              std::abs(reduced[1] - core::logsumexp(col1)) < 1e-9 && std::isinf(reduced[2]) && reduced[2] < 0 &&
              reduced[3] == 0.0;
    check("log-sum-exp all-reduce (|x| = 1e4, -inf)", ok);
  }
  // Parallel HDF5: uneven slabs (rank 0 writes nothing), ragged, strings, append.
  {
    const std::string out = config->get_string("smoke.out");
    const int64_t max_rows = config->get_int("smoke.rows");
    const int64_t rows = size == 1 ? max_rows : rank * max_rows / (size - 1);
    std::vector<double> values(static_cast<size_t>(rows));
    std::vector<std::vector<int32_t>> ragged(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) {
      values[size_t(i)] = rank * 1e6 + double(i);
      ragged[size_t(i)].assign(size_t(i % 7), int32_t(rank));
    }
    {
      auto file = io::h5::File::create(out, comm->comm(), "disa-smoke", 1);
      file.write_rows("/smoke/values", values);
      file.write_ragged("/smoke/ragged", ragged);
      file.write_strings("/smoke/names", {fmt::format("rank-{}", rank)});
      file.create_appendable<double>("/smoke/appended", 2, 64, 4);
      file.append_rows("/smoke/appended", values.data(), rows / 2, 2);
      file.append_rows("/smoke/appended", values.data(), rows / 2, 2);
      file.set_attr("/", "world_size", int64_t(size));
      file.commit();
    }
    bool ok = std::filesystem::exists(out) && !std::filesystem::exists(out + io::h5::kIncompleteSuffix);
    if (ok) {
      auto file = io::h5::File::open(out, "disa-smoke", 1);
      int64_t first = comm->exclusive_prefix_sum(rows);
      auto back = file.read_rows<double>("/smoke/values", first, rows);
      ok = back == values;
      auto rback = file.read_ragged_rows<int32_t>("/smoke/ragged", first, rows);
      ok = ok && rback == ragged;
      auto names = file.read_strings("/smoke/names");
      ok = ok && int(names.size()) == size && names[size_t(rank)] == fmt::format("rank-{}", rank);
      ok = ok && file.attr_int("/", "world_size") == size;
      int64_t total_half = comm->all_reduce(int64_t(rows / 2), dist::ReduceOp::Sum);
      ok = ok && file.shape("/smoke/appended") == std::vector<int64_t>{2 * total_half, 2};
    }
    check("parallel HDF5 write, read back, atomic commit", ok);
  }

  int failures = 0;
  for (const auto& [name, ok] : checks) failures += ok ? 0 : 1;
  if (mpi.is_root()) {
    core::Table table(fmt::format("disa smoke on {} rank(s), {} backend", size, comm->backend()));
    for (const auto& [name, ok] : checks) table.row(name, ok ? "PASS" : "FAIL");
    std::fputs(table.render().c_str(), stdout);
    std::printf("%d passed, %d failed\n", int(checks.size()) - failures, failures);
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

DISA_REGISTER_COMMAND("smoke", "check the communicator and parallel HDF5 on this job", run_smoke);

}  // namespace disa::apps
