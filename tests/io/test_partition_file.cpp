// partition::Writer and Reader at 1 and 2 ranks: every trajectory column of the one
// column list written, appended in rounds (a rank with no batch appending nothing) and
// read back bitwise; the datasets and attributes the list declares (and no others); the
// prompt table; truncation of rows whose batch was never recorded (resume after a kill);
// refusal of a block whose columns differ in length.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <type_traits>

#include "disa/dist/mpi_context.hpp"
#include "disa/io/partition_file.hpp"

namespace {

namespace partition = disa::io::partition;
using partition::Trajectories;

std::string shared_path(const std::string& name) {
  long pid = long(getpid());
  MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return testing::TempDir() + "disa_partition_" + std::to_string(pid) + "_np" + std::to_string(size) + "_" + name;
}

int rank() { return disa::dist::MpiContext::get().rank(); }
int world() { return disa::dist::MpiContext::get().size(); }

// The work plan of the tests: P prompts x N samples in batches of B units.
constexpr int64_t P = 5, N = 3, B = 4;
constexpr int64_t kUnits = P * N, kBatches = (kUnits + B - 1) / B;
const std::vector<std::string> kReasons{"correct", "wrong_answer", "format_error"};

// Every column of work unit u, distinct per unit (empty responses and NaN included).
void add_unit(Trajectories& t, int64_t u) {
  t.prompt_index.push_back(u / N);
  t.sample_index.push_back(u % N);
  std::vector<int32_t> toks;
  for (int64_t k = 0; k < u % 4; ++k) toks.push_back(int32_t(100 * u + k));
  t.tokens.push_back(toks);
  t.length.push_back(int32_t(toks.size()));
  t.finish_reason.push_back(int8_t(u % 2));
  t.component.push_back(int8_t(u % 3));
  t.reason.push_back(int8_t(u % 3));
  t.reward.push_back(double(u % 2));
  t.log_q.push_back(-0.5 * double(u) - 1e-17);
  t.log_pi_ref.push_back(-0.25 * double(u));
  t.log_q_strong.push_back(u % 5 == 0 ? std::numeric_limits<double>::quiet_NaN() : -0.125 * double(u));
  t.log_weight.push_back(0.1 * double(u));
}

Trajectories batch_rows(int64_t batch) {
  Trajectories t;
  for (int64_t u = batch * B; u < std::min(kUnits, (batch + 1) * B); ++u) add_unit(t, u);
  return t;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  if constexpr (std::is_floating_point_v<T>)
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
  else
    return a == b;
}

// Every column of the list, bitwise.
void expect_same_rows(const Trajectories& a, const Trajectories& b, const std::string& what) {
#define DISA_TEST_SAME_COLUMN(NAME, LAYOUT, TYPE, ATTR, DOC) \
  EXPECT_TRUE(same_bits(a.NAME, b.NAME)) << what << ": column " #NAME;
  DISA_PARTITION_TRAJECTORY_COLUMNS(DISA_TEST_SAME_COLUMN)
#undef DISA_TEST_SAME_COLUMN
}

partition::Writer::Options options(int deflate) {
  partition::Writer::Options o;
  o.deflate = deflate;
  o.batch_size = B;
  o.reason_names = kReasons;
  return o;
}

// What Reader::open needs besides the tables (the anchor stage writes more).
void write_root_attrs(disa::io::h5::File& f) {
  f.set_attr("/", "beta", 2.0);
  f.set_attr("/", "samples_per_prompt", N);
  f.set_attr("/", "proposal_truncated", int64_t(0));
  f.set_attr("/", "mixture_alpha", 0.0);
  f.set_attr("/", "seed", int64_t(7));
  f.set_attr("/", "batch_size", B);
  f.set_attr("/", "world_size", int64_t(world()));
  f.set_attr("/", "max_new_tokens", int64_t(4));
}

std::string prompt_id(int64_t p) { return "prompt-" + std::to_string(p); }

void write_prompts(partition::Writer& w) {
  const int64_t p0 = P * rank() / world(), p1 = P * (rank() + 1) / world();
  std::vector<std::string> ids, texts;
  std::vector<std::vector<int32_t>> toks;
  for (int64_t p = p0; p < p1; ++p) {
    ids.push_back(prompt_id(p));
    texts.push_back("text of " + std::to_string(p));
    toks.push_back(std::vector<int32_t>(size_t(p + 1), int32_t(p)));
  }
  w.write_prompts(ids, texts, toks);
}

// Batches `todo` in rounds, batch todo[round * world + rank] on each rank; a rank
// without one appends nothing (the collective still runs). record=false: rows appended
// but no batch recorded (a job killed between the rows and the index).
void append_rounds(partition::Writer& w, const std::vector<int64_t>& todo, bool record = true) {
  const int64_t rounds = (int64_t(todo.size()) + world() - 1) / world();
  for (int64_t t = 0; t < rounds; ++t) {
    const int64_t i = t * world() + rank();
    const int64_t batch = i < int64_t(todo.size()) ? todo[size_t(i)] : -1;
    Trajectories rows = batch >= 0 ? batch_rows(batch) : Trajectories{};
    w.append(rows, record ? batch : -1);
  }
}

// Every unit of the plan, found via the batch index, bitwise as written.
void expect_every_unit(const partition::Reader& r) {
  ASSERT_EQ(r.num_trajectories(), kUnits);
  for (int64_t p = 0; p < P; ++p) {
    const auto rows = r.rows_of_prompt(p);
    ASSERT_EQ(int64_t(rows.size()), N);
    for (int64_t j = 0; j < N; ++j) {
      Trajectories expected;
      add_unit(expected, p * N + j);
      expect_same_rows(r.read_trajectories(rows[size_t(j)], 1), expected, "unit " + std::to_string(p * N + j));
    }
    // read_rows: a prompt's rows in sample order, then the same rows reversed (runs of
    // consecutive rows and single rows, in the order asked).
    Trajectories expected, reversed;
    for (int64_t j = 0; j < N; ++j) add_unit(expected, p * N + j);
    for (int64_t j = N - 1; j >= 0; --j) add_unit(reversed, p * N + j);
    expect_same_rows(r.read_rows(rows), expected, "read_rows of prompt " + std::to_string(p));
    expect_same_rows(r.read_rows(std::vector<int64_t>(rows.rbegin(), rows.rend())), reversed,
                     "read_rows reversed, prompt " + std::to_string(p));
  }
}

std::vector<int64_t> all_batches() {
  std::vector<int64_t> b;
  for (int64_t i = 0; i < kBatches; ++i) b.push_back(i);
  return b;
}

TEST(PartitionFile, ColumnList) {
  const auto cols = partition::trajectory_columns();
  std::set<std::string> names;
  for (const auto& c : cols) {
    EXPECT_TRUE(names.insert(c.name).second) << "column listed twice: " << c.name;
    EXPECT_EQ(c.path, partition::kTrajectoriesGroup + c.name);
    EXPECT_FALSE(c.doc.empty()) << c.name;
    EXPECT_NE(c.path, partition::kBatches);
  }
  EXPECT_EQ(partition::column::log_q.path(), "/trajectories/log_q");
  EXPECT_EQ(std::string(partition::column::finish_reason.attr.value), "stop,length");
  // push_back_row copies every column.
  Trajectories a, b;
  add_unit(a, 6);
  add_unit(a, 7);
  b.push_back_row(a, 1);
  Trajectories expected;
  add_unit(expected, 7);
  expect_same_rows(b, expected, "push_back_row");
}

TEST(PartitionFile, WriterRoundTripsEveryColumn) {
  const auto path = shared_path("roundtrip.h5");
  {
    auto w = partition::Writer::create(path, MPI_COMM_WORLD, options(3));
    write_root_attrs(w.file());
    write_prompts(w);
    append_rounds(w, all_batches());
    w.file().commit();
  }
  auto r = partition::Reader::open(path);
  const auto& f = r.file();
  // The prompt table.
  ASSERT_EQ(r.num_prompts(), P);
  const auto tokens = r.prompt_tokens();
  const auto texts = f.read_strings(partition::kPromptTexts);
  for (int64_t p = 0; p < P; ++p) {
    EXPECT_EQ(r.prompt_ids()[size_t(p)], prompt_id(p));
    EXPECT_EQ(texts[size_t(p)], "text of " + std::to_string(p));
    EXPECT_EQ(tokens[size_t(p)], std::vector<int32_t>(size_t(p + 1), int32_t(p)));
  }
  // The trajectory table holds the listed columns, each with its attribute, and the index.
  std::vector<std::string> expected{"batches"};
  for (const auto& c : partition::trajectory_columns()) {
    expected.push_back(c.name);
    EXPECT_EQ(f.shape(c.layout == partition::Layout::kRows ? c.path : c.path + "/offsets").at(0),
              c.layout == partition::Layout::kRows ? kUnits : kUnits + 1)
        << c.name;
    if (c.layout == partition::Layout::kRagged) {
      EXPECT_EQ(f.list(c.path), (std::vector<std::string>{"offsets", "values"}));
    }
    const auto attrs = f.attrs_as_text(c.path);
    if (!c.attr.name) {
      EXPECT_TRUE(attrs.empty()) << c.name;
      continue;
    }
    ASSERT_EQ(attrs.size(), 1u) << c.name;
    EXPECT_EQ(attrs[0].first, c.attr.name);
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(f.list("/trajectories"), expected);
  EXPECT_EQ(f.shape(partition::kBatches), (std::vector<int64_t>{kBatches, 3}));
  // The stored attribute values, as the anchor stage has always written them.
  EXPECT_EQ(f.attr_string("/trajectories/finish_reason", "names"), "stop,length");
  EXPECT_EQ(f.attr_string("/trajectories/component", "names"), "proposal,reference,strong");
  EXPECT_EQ(f.attr_string("/trajectories/reason", "names"), "correct,wrong_answer,format_error");
  EXPECT_EQ(f.attr_string("/trajectories/log_weight", "definition"), "beta * reward + log_pi_ref - log_q");
  EXPECT_EQ(partition::reason_names(f), kReasons);
  expect_every_unit(r);
}

TEST(PartitionFile, ResumeDropsRowsOfUnrecordedBatches) {
  const auto path = shared_path("resume.h5");
  const auto todo = all_batches();
  const size_t first_round = size_t(std::min<int64_t>(world(), kBatches));
  int64_t recorded_rows = 0, recorded_tokens = 0;
  for (size_t i = 0; i < first_round; ++i) {
    auto rows = batch_rows(todo[i]);
    recorded_rows += int64_t(rows.size());
    for (const auto& t : rows.tokens) recorded_tokens += int64_t(t.size());
  }
  {
    auto w = partition::Writer::create(path, MPI_COMM_WORLD, options(0));
    write_root_attrs(w.file());
    write_prompts(w);
    append_rounds(w, std::vector<int64_t>(todo.begin(), todo.begin() + long(first_round)));
    // The next round's rows reach the file, its batches never the index: then the job dies.
    append_rounds(w, std::vector<int64_t>(todo.begin() + long(first_round), todo.end()), false);
    w.file().flush();
  }
  std::vector<int64_t> done;
  {
    auto w = partition::Writer::reopen(path, MPI_COMM_WORLD);
    EXPECT_GT(w.file().shape(partition::column::prompt_index.path()).at(0), recorded_rows);
    for (const auto& b : w.drop_unrecorded_rows()) done.push_back(b.batch);
    std::sort(done.begin(), done.end());
    EXPECT_EQ(done, std::vector<int64_t>(todo.begin(), todo.begin() + long(first_round)));
    for (const auto& c : partition::trajectory_columns()) {
      if (c.layout == partition::Layout::kRows) {
        EXPECT_EQ(w.file().shape(c.path).at(0), recorded_rows) << c.name;
      } else {
        EXPECT_EQ(w.file().shape(c.path + "/offsets").at(0), recorded_rows + 1) << c.name;
        EXPECT_EQ(w.file().shape(c.path + "/values").at(0), recorded_tokens) << c.name;
      }
    }
    // Redo the rest, as `disa anchor --anchor.resume` does.
    append_rounds(w, std::vector<int64_t>(todo.begin() + long(first_round), todo.end()));
    w.file().commit();
  }
  expect_every_unit(partition::Reader::open(path));
}

TEST(PartitionFile, WriterRefusesUnequalColumns) {
  EXPECT_THROW(partition::Writer::create(shared_path("no_reasons.h5"), MPI_COMM_WORLD, partition::Writer::Options{}),
               disa::core::DataError);
  auto w = partition::Writer::create(shared_path("unequal.h5"), MPI_COMM_WORLD, options(0));
  Trajectories rows = batch_rows(0);
  rows.log_weight.pop_back();  // a producer that forgot a value
  try {
    w.append(rows, 0);
    FAIL() << "appended columns of unequal length";
  } catch (const disa::core::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("log_weight"), std::string::npos) << e.what();
  }
  // Nothing was written.
  EXPECT_EQ(w.file().shape(partition::column::prompt_index.path()).at(0), 0);
  EXPECT_EQ(w.file().shape(partition::kBatches).at(0), 0);
}

}  // namespace
