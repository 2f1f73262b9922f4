// The partition file: the one HDF5 file `disa anchor` writes and `disa train` / `disa
// eval` read (stages talk only through files). This header is its schema — the names of
// every dataset and attribute — with its reader and its writer (partition::Writer, the
// only code that creates the prompt and trajectory tables). docs/formats.md describes
// each dataset.
//
//   /                      attrs: format="disa-partition", format_version, status,
//                          beta, samples_per_prompt, anchors, proposal, proposal_kind,
//                          proposal_truncated, mixture_alpha, temperature, top_k, top_p,
//                          max_new_tokens, reference_model, reference_fingerprint,
//                          tokenizer_fingerprint, proposal_model, proposal_fingerprint,
//                          task, dataset_source, dataset_fingerprint, seed, batch_size,
//                          world_size, code_version, config (resolved INI), created
//   /prompts/{id, text}    strings [P];  /prompts/tokens  ragged int32 [P]  (kPrompt*)
//   /anchors/log_z_hat                 [P] float64, the logmeanexp anchor (s_i = 1)
//   /anchors/log_z_length_normalized   [P] float64, the root-found anchor (s_i = 1/|y|)
//   /anchors/log_z_exact               [P] float64, exact log Z or NaN
//   /diagnostics/<name>                [P] per-prompt diagnostics (see diagnostic_names)
//   /trajectories/<name>               [T] the trajectory columns, one line each in
//                                      DISA_PARTITION_TRAJECTORY_COLUMNS below; rows in
//                                      the order batches finished
//   /trajectories/batches              [B, 3] int64 (batch id, first row, rows): the
//                                      index from work units to rows (unit u = prompt *
//                                      samples_per_prompt + sample lies in batch
//                                      u / batch_size, at row first_row + u - batch * batch_size)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "disa/io/hdf5.hpp"

namespace disa::io::partition {

inline constexpr const char* kFormat = "disa-partition";
inline constexpr int64_t kFormatVersion = 1;

// The two anchors and the residual form each belongs to (docs/method.md §3).
inline constexpr const char* kSequenceAnchor = "logmeanexp";                 // s_i = 1
inline constexpr const char* kLengthNormalizedAnchor = "length-normalized";  // s_i = 1/|y|
// The dataset holding the anchor for a residual form; DataError for an unknown name.
std::string anchor_dataset(const std::string& residual);

// Per-prompt diagnostics, in /diagnostics/<name>, all [P].
inline const std::vector<std::string>& diagnostic_names() {
  static const std::vector<std::string> names{
      "n",        "n_correct",    "pass_rate",         "ess",  "ess_fraction", "max_normalized_weight", "k_hat",
      "delta_se", "bootstrap_sd", "relative_variance", "flags"};
  return names;
}
// Bits of /diagnostics/flags.
enum Flag : int64_t {
  kAllWrong = 1,           // no sample was correct: the anchor comes from reward-0 weights
  kHeavyTail = 2,          // k_hat > min(1 - 1/log10 N, 0.7) (attribute threshold of /diagnostics/k_hat): untrustworthy
  kTruncatedProposal = 4,  // top-k/top-p proposal: the anchor is biased low (support)
  kNoExact = 8,            // no exact log Z (task does not list its solutions)
  kTailNotAssessable = 16,  // k_hat is NaN: fewer than 5 distinct tail weights, the tail cannot be judged
};

// --- the prompt table: [P] rows, prompt p at row p --------------------------------------
inline constexpr const char* kPromptIds = "/prompts/id";         // strings: the task's prompt ids
inline constexpr const char* kPromptTexts = "/prompts/text";     // strings: the rendered prompts
inline constexpr const char* kPromptTokens = "/prompts/tokens";  // ragged int32: their token ids

// --- the trajectory table: [T] rows, one per work unit ----------------------------------
inline constexpr const char* kTrajectoriesGroup = "/trajectories/";
inline constexpr const char* kBatches = "/trajectories/batches";  // [B, 3] int64, see above

// Codes of /trajectories/finish_reason and /trajectories/component, and their names as
// the column's "names" attribute stores them (comma-separated, by code).
enum FinishCode : int8_t { kFinishStop = 0, kFinishLength = 1 };
inline constexpr const char* kFinishNames = "stop,length";
enum ComponentCode : int8_t { kComponentProposal = 0, kComponentReference = 1, kComponentStrong = 2 };
inline constexpr const char* kComponentNames = "proposal,reference,strong";

// How a column stores its rows. kRows: one value per row, a dataset [T] of the element
// type. kRagged: a variable-length row, <name>/values (the rows' values, flat) and
// <name>/offsets ([T + 1] int64, starting at 0; row t is values[offsets[t], offsets[t+1])).
enum class Layout { kRows, kRagged };

// The one string attribute a column may carry (name == nullptr: none).
struct ColumnAttr {
  const char* name = nullptr;
  const char* value = nullptr;  // nullptr: given when the file is created (see attr_reason_names)
};
constexpr ColumnAttr attr_none() { return {}; }
// "names": the names of the column's codes, comma-separated, by code.
constexpr ColumnAttr attr_names(const char* comma_separated) { return {"names", comma_separated}; }
// "names" of the task's reward reasons (tasks::Reason, which io does not know): the value
// is Writer::Options::reason_names.
constexpr ColumnAttr attr_reason_names() { return {"names", nullptr}; }
// "definition": the formula the column holds.
constexpr ColumnAttr attr_definition(const char* formula) { return {"definition", formula}; }

// The schema of one trajectory column, /trajectories/<name>. The HDF5 type of its values
// is the native type of `T` (int8_t: H5T_NATIVE_INT8, int32_t: INT32, int64_t: INT64,
// double: DOUBLE; element_type_name); T must be one io/hdf5.cpp instantiates.
template <Layout L, class T>
struct Column {
  using Element = T;
  static constexpr Layout layout = L;
  // The column's rows in memory: the type of its Trajectories member.
  using Data = std::conditional_t<L == Layout::kRows, std::vector<T>, std::vector<std::vector<T>>>;
  const char* name;
  ColumnAttr attr;
  const char* doc;
  std::string path() const { return std::string(kTrajectoriesGroup) + name; }
};

// THE trajectory columns, in file order, one line per column:
//   DISA_COLUMN(name, layout, element type, attribute, doc)
// Adding a column is one line here. The Trajectories member `name` (of type
// Column<layout, type>::Data), the constant column::name, the writer (dataset, its
// attribute, appends, truncation on resume) and the reader all follow from this list;
// the producer (the anchor stage) fills the new member — Writer::append refuses rows
// whose columns differ in length. docs/formats.md describes the columns for users.
// clang-format off
#define DISA_PARTITION_TRAJECTORY_COLUMNS(DISA_COLUMN)                                                            \
  DISA_COLUMN(prompt_index,  kRows,   int64_t, attr_none(),                "the work unit's prompt p (row of /prompts)") \
  DISA_COLUMN(sample_index,  kRows,   int64_t, attr_none(),                "the work unit's sample j in 0..N-1")   \
  DISA_COLUMN(tokens,        kRagged, int32_t, attr_none(),                "response token ids (the stop token included)") \
  DISA_COLUMN(length,        kRows,   int32_t, attr_none(),                "response length in tokens")            \
  DISA_COLUMN(finish_reason, kRows,   int8_t,  attr_names(kFinishNames),    "FinishCode: 0 stop (stop token or string), 1 length limit") \
  DISA_COLUMN(component,     kRows,   int8_t,  attr_names(kComponentNames), "ComponentCode: 0 the proposal, 1 the reference, 2 the strong component of a mixture") \
  DISA_COLUMN(reason,        kRows,   int8_t,  attr_reason_names(),        "the task's reward reason (tasks::Reason code)") \
  DISA_COLUMN(reward,        kRows,   double,  attr_none(),                "r(x, y) in [0, 1]")                    \
  DISA_COLUMN(log_q,         kRows,   double,  attr_none(),                "log q(y|x) of the distribution sampled from (mixture: logsumexp(log alpha + log q_strong, log(1-alpha) + log pi_ref); q = pi_ref: log_pi_ref)") \
  DISA_COLUMN(log_pi_ref,    kRows,   double,  attr_none(),                "teacher-forced log pi_ref(y|x) at temperature 1") \
  DISA_COLUMN(log_q_strong,  kRows,   double,  attr_none(),                "log q_strong(y|x) (model and mixture proposals; NaN otherwise)") \
  DISA_COLUMN(log_weight,    kRows,   double,  attr_definition("beta * reward + log_pi_ref - log_q"), "the log importance weight l")
// clang-format on

// One constant per column: column::log_q.path() == "/trajectories/log_q".
namespace column {
#define DISA_PARTITION_DECLARE_COLUMN(NAME, LAYOUT, TYPE, ATTR, DOC) \
  inline constexpr Column<Layout::LAYOUT, TYPE> NAME{#NAME, ATTR, DOC};
DISA_PARTITION_TRAJECTORY_COLUMNS(DISA_PARTITION_DECLARE_COLUMN)
#undef DISA_PARTITION_DECLARE_COLUMN
}  // namespace column

// Calls f(column::NAME) for every column, in list order.
template <class F>
void for_each_trajectory_column(F&& f) {
#define DISA_PARTITION_VISIT_COLUMN(NAME, LAYOUT, TYPE, ATTR, DOC) f(column::NAME);
  DISA_PARTITION_TRAJECTORY_COLUMNS(DISA_PARTITION_VISIT_COLUMN)
#undef DISA_PARTITION_VISIT_COLUMN
}

// One block of trajectory rows: a member per column, all of size() rows.
struct Trajectories {
#define DISA_PARTITION_COLUMN_MEMBER(NAME, LAYOUT, TYPE, ATTR, DOC) Column<Layout::LAYOUT, TYPE>::Data NAME;
  DISA_PARTITION_TRAJECTORY_COLUMNS(DISA_PARTITION_COLUMN_MEMBER)
#undef DISA_PARTITION_COLUMN_MEMBER

  size_t size() const { return prompt_index.size(); }
  // Appends row i of `from` to every column.
  void push_back_row(const Trajectories& from, size_t i);

  // Calls f(column::NAME, member NAME) for every column, in list order.
#define DISA_PARTITION_VISIT_MEMBER(NAME, LAYOUT, TYPE, ATTR, DOC) f(column::NAME, NAME);
  template <class F>
  void for_each_column(F&& f) {
    DISA_PARTITION_TRAJECTORY_COLUMNS(DISA_PARTITION_VISIT_MEMBER)
  }
  template <class F>
  void for_each_column(F&& f) const {
    DISA_PARTITION_TRAJECTORY_COLUMNS(DISA_PARTITION_VISIT_MEMBER)
  }
#undef DISA_PARTITION_VISIT_MEMBER
};

// The HDF5 type a column of T is stored as, by its numpy name.
template <class T>
constexpr const char* element_type_name() {
  if constexpr (std::is_same_v<T, int8_t>)
    return "int8";
  else if constexpr (std::is_same_v<T, int32_t>)
    return "int32";
  else if constexpr (std::is_same_v<T, int64_t>)
    return "int64";
  else if constexpr (std::is_same_v<T, double>)
    return "float64";
  else
    static_assert(!std::is_same_v<T, T>, "give element_type_name a name for this column type");
}

// The column list at run time (listings, checks).
struct ColumnInfo {
  std::string name, path;
  Layout layout = Layout::kRows;
  std::string type;  // element_type_name
  ColumnAttr attr;
  std::string doc;
};
std::vector<ColumnInfo> trajectory_columns();

// The names stored in /trajectories/reason's "names" attribute, by code.
std::vector<std::string> reason_names(const h5::File& file);

// A batch recorded complete in /trajectories/batches: rows [first_row, first_row + rows).
struct BatchRecord {
  int64_t batch = 0, first_row = 0, rows = 0;
};
// The records of /trajectories/batches, in the order they were appended.
std::vector<BatchRecord> read_batches(const h5::File& file);

// How the anchored responses end (root attributes stop_token_ids, stop_strings as a JSON
// array, vocab_limit); written by write_response_stops.
struct ResponseStops {
  std::vector<int64_t> token_ids;
  std::vector<std::string> strings;
  int64_t vocab_limit = 0;
};
void write_response_stops(h5::File& file, const ResponseStops& stops);

// The provenance stored as root attributes.
struct Provenance {
  double beta = 0;
  int64_t samples_per_prompt = 0;
  std::string anchors;  // "logmeanexp,length-normalized"
  std::string proposal, proposal_kind;
  bool proposal_truncated = false;
  double mixture_alpha = 0;
  std::string reference_model, reference_fingerprint, tokenizer_fingerprint;
  std::string proposal_model, proposal_fingerprint;
  std::string task, dataset_source, dataset_fingerprint;
  int64_t seed = 0, batch_size = 0, world_size = 0, max_new_tokens = 0;
  // The rest of the response space log Z is defined over (docs/method.md §2): a response
  // ends after one of the stop tokens or stop strings, or at max_new_tokens; ids >=
  // vocab_limit are never drawn (0: no limit). nullopt in files written before they were
  // recorded.
  std::optional<ResponseStops> stops;
  std::string code_version, config;
};

class Reader {
 public:
  // Opens a finished partition file (format and version checked).
  static Reader open(const std::string& path);

  const std::string& path() const { return path_; }
  const Provenance& provenance() const { return provenance_; }
  int64_t num_prompts() const { return int64_t(prompt_ids_.size()); }
  const std::vector<std::string>& prompt_ids() const { return prompt_ids_; }
  // Index of a prompt id, or nullopt.
  std::optional<int64_t> prompt_index(const std::string& id) const;
  std::vector<std::vector<int32_t>> prompt_tokens() const;
  // The anchors for a residual form (kSequenceAnchor or kLengthNormalizedAnchor).
  std::vector<double> anchors(const std::string& residual) const;
  std::vector<double> exact_log_z() const;
  std::vector<double> diagnostic(const std::string& name) const;

  int64_t num_trajectories() const;
  // Rows [first, first + count) in file order.
  Trajectories read_trajectories(int64_t first, int64_t count) const;
  // The file rows of prompt `p`'s samples 0..N-1 (via /trajectories/batches).
  std::vector<int64_t> rows_of_prompt(int64_t p) const;
  // The given file rows, in the order given (runs of consecutive rows read at once):
  // what a training step streams instead of holding the whole file.
  Trajectories read_rows(const std::vector<int64_t>& rows) const;

  const h5::File& file() const { return file_; }

 private:
  Reader() = default;
  std::string path_;
  h5::File file_;
  Provenance provenance_;
  std::vector<std::string> prompt_ids_;
  std::vector<int64_t> batch_first_row_;  // by batch id (-1 if absent)
};

// Reads the provenance attributes of an open partition file.
Provenance read_provenance(const h5::File& file);

// Reads rows [first, first + count) of the trajectory columns from any partition file
// (also an incomplete one being resumed).
Trajectories read_trajectory_rows(const h5::File& file, int64_t first, int64_t count);

// Writes the prompt and trajectory tables of a partition file; every call is collective
// over the file's communicator, each rank passing its own rows (possibly none). The
// root attributes, anchors and diagnostics go through file(), which also flushes and
// commits.
class Writer {
 public:
  struct Options {
    int deflate = 0;                        // gzip level 0-9 of /prompts/tokens and the trajectory columns
    int64_t batch_size = 1;                 // work units per global batch: trajectory chunks hold max(1024, it) rows
    std::vector<std::string> reason_names;  // /trajectories/reason "names", by code
  };

  Writer() = default;  // no file yet
  // Creates FINAL.incomplete (h5::File::create, kFormat, kFormatVersion) holding the
  // empty trajectory table: every column with its attribute, and the batch index.
  static Writer create(const std::string& final_path, MPI_Comm comm, const Options& options);
  // Reopens FINAL.incomplete left by an interrupted run (format and version checked);
  // call drop_unrecorded_rows() before appending.
  static Writer reopen(const std::string& final_path, MPI_Comm comm);

  // Truncates every column to the rows of the batches recorded complete in
  // /trajectories/batches (rows of a round cut short are dropped, to be redone), flushes,
  // and returns those records.
  std::vector<BatchRecord> drop_unrecorded_rows();
  // The prompt table: each rank its contiguous block of prompts, in rank order.
  void write_prompts(const std::vector<std::string>& ids, const std::vector<std::string>& texts,
                     const std::vector<std::vector<int32_t>>& tokens);
  // Appends every rank's rows in rank order, then records this rank's rows as batch
  // `batch` (-1: records nothing) in /trajectories/batches: a batch is in the index only
  // after its rows, so the index is the checkpoint. Returns the file row of this rank's
  // first row. DataError if the columns of `rows` differ in length.
  int64_t append(const Trajectories& rows, int64_t batch);

  h5::File& file() { return file_; }
  const h5::File& file() const { return file_; }

 private:
  h5::File file_;
  int deflate_ = 0;
};

}  // namespace disa::io::partition
