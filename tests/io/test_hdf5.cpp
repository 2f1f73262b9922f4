// Parallel HDF5 layer at 1 and 2 ranks: round trip of uneven slabs (one rank writing
// nothing), 2-D rows, ragged arrays, strings, appendable datasets with compression,
// attributes, atomic commit (no final file before commit, .incomplete name until
// then), refusal of incomplete files and of format/version mismatches.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "disa/dist/mpi_context.hpp"
#include "disa/io/hdf5.hpp"

namespace {

namespace fs = std::filesystem;
using disa::io::h5::File;

// A path shared by all ranks (rank 0's pid makes it unique per test process).
std::string shared_path(const std::string& name) {
  long pid = long(getpid());
  MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return testing::TempDir() + "disa_h5_" + std::to_string(pid) + "_np" + std::to_string(size) + "_" + name;
}

int rank() { return disa::dist::MpiContext::get().rank(); }
int world() { return disa::dist::MpiContext::get().size(); }

// Rank r writes rows_of(r) rows: rank 0 none (when there are several ranks).
int64_t rows_of(int r) { return world() == 1 ? 5 : int64_t(r) * 7; }

TEST(Hdf5, UnevenSlabsRoundTrip) {
  const auto path = shared_path("slabs.h5");
  const int r = rank();
  int64_t rows = rows_of(r), first_expected = 0;
  for (int k = 0; k < r; ++k) first_expected += rows_of(k);
  std::vector<double> values;
  std::vector<int32_t> pairs;
  for (int64_t i = 0; i < rows; ++i) {
    values.push_back(r + i / 100.0);
    pairs.push_back(int32_t(r));
    pairs.push_back(int32_t(i));
  }
  {
    auto f = File::create(path, MPI_COMM_WORLD, "disa-test", 3);
    EXPECT_EQ(f.write_rows("/data/values", values), first_expected);
    EXPECT_EQ(f.write_rows("/data/pairs", pairs, 2), first_expected);
    f.commit();
  }
  auto f = File::open(path, "disa-test", 3);
  int64_t total = 0;
  for (int k = 0; k < world(); ++k) total += rows_of(k);
  EXPECT_EQ(f.shape("/data/values"), std::vector<int64_t>{total});
  EXPECT_EQ(f.shape("/data/pairs"), (std::vector<int64_t>{total, 2}));
  auto all = f.read<double>("/data/values");
  ASSERT_EQ(int64_t(all.size()), total);
  int64_t pos = 0;
  for (int k = 0; k < world(); ++k)
    for (int64_t i = 0; i < rows_of(k); ++i, ++pos) EXPECT_DOUBLE_EQ(all[size_t(pos)], k + i / 100.0);
  EXPECT_EQ(f.read_rows<int32_t>("/data/pairs", first_expected, rows), pairs);
}

TEST(Hdf5, RaggedAndStrings) {
  const auto path = shared_path("ragged.h5");
  const int r = rank();
  std::vector<std::vector<int32_t>> seqs;
  std::vector<std::string> names;
  for (int64_t i = 0; i < rows_of(r); ++i) {
    seqs.push_back(std::vector<int32_t>(size_t(i % 4), int32_t(100 * r + i)));
    names.push_back(std::string(size_t(i % 5), char('a' + r)) + "é");
  }
  {
    auto f = File::create(path, MPI_COMM_WORLD, "disa-test", 1);
    f.write_ragged("/traj/tokens", seqs);
    f.write_strings("/traj/names", names);
    f.commit();
  }
  auto f = File::open(path, "disa-test", 1);
  int64_t first = 0;
  for (int k = 0; k < r; ++k) first += rows_of(k);
  EXPECT_EQ(f.read_ragged_rows<int32_t>("/traj/tokens", first, rows_of(r)), seqs);
  auto all_names = f.read_strings("/traj/names");
  ASSERT_GE(int64_t(all_names.size()), first + rows_of(r));
  for (int64_t i = 0; i < rows_of(r); ++i) EXPECT_EQ(all_names[size_t(first + i)], names[size_t(i)]);
  auto all = f.read_ragged<int32_t>("/traj/tokens");
  EXPECT_EQ(int64_t(all.size()), int64_t(all_names.size()));
}

TEST(Hdf5, AppendableWithCompressionAndResize) {
  const auto path = shared_path("append.h5");
  const int r = rank();
  {
    auto f = File::create(path, MPI_COMM_WORLD, "disa-test", 1);
    f.create_appendable<double>("/log/w", 3, 16, 4);
    f.create_appendable_ragged<int32_t>("/log/tokens", 16, 0);
    for (int round = 0; round < 3; ++round) {
      // Round 1: rank 0 adds nothing.
      int64_t rows = (round == 1 && r == 0) ? 0 : 2 + r;
      std::vector<double> data(size_t(rows * 3), double(round * 10 + r));
      std::vector<std::vector<int32_t>> toks(size_t(rows), std::vector<int32_t>{round, r});
      f.append_rows("/log/w", data, 3);
      f.append_ragged("/log/tokens", toks);
    }
    f.commit();
  }
  auto f = File::open(path, "disa-test", 1);
  int64_t expect_rows = 0;
  for (int round = 0; round < 3; ++round)
    for (int k = 0; k < world(); ++k) expect_rows += (round == 1 && k == 0) ? 0 : 2 + k;
  EXPECT_EQ(f.shape("/log/w"), (std::vector<int64_t>{expect_rows, 3}));
  auto toks = f.read_ragged<int32_t>("/log/tokens");
  ASSERT_EQ(int64_t(toks.size()), expect_rows);
  auto w = f.read<double>("/log/w");
  // Rows appear round by round, ranks in order within a round.
  size_t row = 0;
  for (int round = 0; round < 3; ++round)
    for (int k = 0; k < world(); ++k)
      for (int64_t i = 0; i < ((round == 1 && k == 0) ? 0 : 2 + k); ++i, ++row) {
        EXPECT_EQ(w[row * 3], double(round * 10 + k));
        EXPECT_EQ(toks[row], (std::vector<int32_t>{round, k}));
      }
  f.close();

  // Resize (resume truncation) on a fresh file.
  const auto path2 = shared_path("resize.h5");
  auto g = File::create(path2, MPI_COMM_WORLD, "disa-test", 1);
  g.create_appendable<int64_t>("/x", 1, 8);
  std::vector<int64_t> xs(10, r);
  g.append_rows("/x", xs);
  g.resize_rows("/x", 4);
  EXPECT_EQ(g.shape("/x"), std::vector<int64_t>{4});
  g.commit();
}

TEST(Hdf5, AppendableStrings) {
  // Fixed-length strings appended round by round, ranks in order; a string that does not
  // fit the width is refused with the dataset's name.
  const auto path = shared_path("append_strings.h5");
  const int r = rank();
  {
    auto f = File::create(path, MPI_COMM_WORLD, "disa-test", 1);
    f.create_appendable_strings("/s", 8, 2);
    for (int round = 0; round < 2; ++round) {
      std::vector<std::string> rows;
      for (int i = 0; i <= r; ++i)
        rows.push_back(std::to_string(round) + ":" + std::to_string(r) + std::string(size_t(i), 'x'));
      f.append_strings("/s", rows);
    }
    f.commit();
  }
  auto f = File::open(path, "disa-test", 1);
  std::vector<std::string> expected;
  for (int round = 0; round < 2; ++round)
    for (int k = 0; k < world(); ++k)
      for (int i = 0; i <= k; ++i)
        expected.push_back(std::to_string(round) + ":" + std::to_string(k) + std::string(size_t(i), 'x'));
  EXPECT_EQ(f.read_strings("/s"), expected);
  f.close();
  if (world() == 1) {
    auto g = File::create(shared_path("append_strings_long.h5"), MPI_COMM_WORLD, "disa-test", 1);
    g.create_appendable_strings("/s", 4);
    try {
      g.append_strings("/s", {"four"});
      ADD_FAILURE() << "a 4-byte string was appended to a width of 4 (no room for the NUL)";
    } catch (const disa::core::IoError& e) {
      EXPECT_NE(std::string(e.what()).find("does not fit /s"), std::string::npos) << e.what();
    }
  }
}

TEST(Hdf5, AttributesRoundTrip) {
  const auto path = shared_path("attrs.h5");
  {
    auto f = File::create(path, MPI_COMM_WORLD, "disa-test", 2);
    f.create_group("/anchors");
    f.set_attr("/", "beta", 1.25);
    f.set_attr("/", "seed", int64_t(1234));
    f.set_attr("/anchors", "estimator", "logmeanexp");
    f.set_attr("/anchors", "quantiles", std::vector<double>{0.1, 0.5, 0.9});
    f.set_attr("/anchors", "counts", std::vector<int64_t>{3, 4});
    f.set_attr("/", "config", std::string("[anchor]\nbeta = 1.25\n"));
    f.commit();
  }
  auto f = File::open(path, "disa-test", 2);
  EXPECT_DOUBLE_EQ(f.attr_double("/", "beta"), 1.25);
  EXPECT_EQ(f.attr_int("/", "seed"), 1234);
  EXPECT_EQ(f.attr_string("/anchors", "estimator"), "logmeanexp");
  EXPECT_EQ(f.attr_doubles("/anchors", "quantiles"), (std::vector<double>{0.1, 0.5, 0.9}));
  EXPECT_EQ(f.attr_ints("/anchors", "counts"), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(f.attr_string("/", "config"), "[anchor]\nbeta = 1.25\n");
  EXPECT_EQ(f.attr_string("/", "status"), "complete");
  EXPECT_TRUE(f.has_attr("/", "format"));
  EXPECT_FALSE(f.has_attr("/", "nope"));
  EXPECT_THROW(f.attr_string("/", "nope"), disa::core::IoError);
  auto text = f.attrs_as_text("/anchors");
  ASSERT_EQ(text.size(), 3u);
  EXPECT_EQ(text[2].first, "quantiles");
  EXPECT_EQ(text[2].second, "0.1, 0.5, 0.9");
}

TEST(Hdf5, AtomicCommitAndIncompleteRefused) {
  const auto path = shared_path("atomic.h5");
  {
    auto f = File::create(path, MPI_COMM_WORLD, "disa-test", 1);
    f.write_root("/x", std::vector<int64_t>{1, 2, 3});
    MPI_Barrier(MPI_COMM_WORLD);
    EXPECT_FALSE(fs::exists(path));
    EXPECT_TRUE(fs::exists(path + disa::io::h5::kIncompleteSuffix));
    // Destroyed without commit: a killed job.
  }
  EXPECT_FALSE(fs::exists(path));
  try {
    File::open(path, "disa-test", 1);
    FAIL() << "opened a file that was never committed";
  } catch (const disa::core::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("did not finish"), std::string::npos) << e.what();
  }
  // The incomplete file can be resumed and then committed.
  {
    auto f = File::reopen_incomplete(path, MPI_COMM_WORLD, "disa-test", 1);
    EXPECT_EQ(f.read<int64_t>("/x"), (std::vector<int64_t>{1, 2, 3}));
    f.commit();
  }
  EXPECT_TRUE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + disa::io::h5::kIncompleteSuffix));
  EXPECT_EQ(File::open(path, "disa-test", 1).read<int64_t>("/x"), (std::vector<int64_t>{1, 2, 3}));
}

TEST(Hdf5, FormatAndVersionMismatchRefused) {
  const auto path = shared_path("format.h5");
  {
    auto f = File::create(path, MPI_COMM_WORLD, "disa-anchors", 2);
    f.commit();
  }
  try {
    File::open(path, "disa-anchors", 3);
    FAIL();
  } catch (const disa::core::IoError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("version 2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("reads version 3"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
  try {
    File::open(path, "disa-train", 2);
    FAIL();
  } catch (const disa::core::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("is a 'disa-anchors' file, expected a 'disa-train'"), std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(File::open(path, "disa-anchors", 2));
  EXPECT_THROW(File::open(path + ".missing"), disa::core::IoError);
}

TEST(Hdf5, MissingDatasetNamed) {
  const auto path = shared_path("missing.h5");
  {
    auto f = File::create(path, MPI_COMM_WORLD, "disa-test", 1);
    f.commit();
  }
  auto f = File::open(path, "disa-test", 1);
  try {
    f.read<double>("/nope/x");
    FAIL();
  } catch (const disa::core::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/nope/x"), std::string::npos);
  }
}

}  // namespace
