// Reader and writer of the partition file (schema in include/disa/io/partition_file.hpp).
#include "disa/io/partition_file.hpp"

#include <algorithm>
#include <sstream>

#include <nlohmann/json.hpp>

namespace disa::io::partition {

std::string anchor_dataset(const std::string& residual) {
  if (residual == kSequenceAnchor) return "/anchors/log_z_hat";
  if (residual == kLengthNormalizedAnchor) return "/anchors/log_z_length_normalized";
  DISA_THROW(DataError, "unknown anchor/residual form '{}' (known: {}, {})", residual, kSequenceAnchor,
             kLengthNormalizedAnchor);
}

void Trajectories::push_back_row(const Trajectories& from, size_t i) {
#define DISA_PARTITION_PUSH_BACK(NAME, LAYOUT, TYPE, ATTR, DOC) NAME.push_back(from.NAME[i]);
  DISA_PARTITION_TRAJECTORY_COLUMNS(DISA_PARTITION_PUSH_BACK)
#undef DISA_PARTITION_PUSH_BACK
}

std::vector<ColumnInfo> trajectory_columns() {
  std::vector<ColumnInfo> out;
  for_each_trajectory_column([&](const auto& col) {
    using C = std::decay_t<decltype(col)>;
    out.push_back({col.name, col.path(), C::layout, element_type_name<typename C::Element>(), col.attr, col.doc});
  });
  return out;
}

std::vector<std::string> reason_names(const h5::File& file) { return file.code_names(column::reason.path()); }

void write_response_stops(h5::File& file, const ResponseStops& stops) {
  file.set_attr("/", "stop_token_ids", stops.token_ids);
  file.set_attr("/", "stop_strings", nlohmann::json(stops.strings).dump());
  file.set_attr("/", "vocab_limit", stops.vocab_limit);
}

std::vector<BatchRecord> read_batches(const h5::File& file) {
  auto flat = file.read<int64_t>(kBatches);
  std::vector<BatchRecord> out;
  for (size_t i = 0; i + 2 < flat.size(); i += 3) out.push_back({flat[i], flat[i + 1], flat[i + 2]});
  return out;
}

Provenance read_provenance(const h5::File& f) {
  Provenance p;
  auto s = [&](const char* name) { return f.has_attr("/", name) ? f.attr_string("/", name) : std::string(); };
  p.beta = f.attr_double("/", "beta");
  p.samples_per_prompt = f.attr_int("/", "samples_per_prompt");
  p.anchors = s("anchors");
  p.proposal = s("proposal");
  p.proposal_kind = s("proposal_kind");
  p.proposal_truncated = f.attr_int("/", "proposal_truncated") != 0;
  p.mixture_alpha = f.attr_double("/", "mixture_alpha");
  p.reference_model = s("reference_model");
  p.reference_fingerprint = s("reference_fingerprint");
  p.tokenizer_fingerprint = s("tokenizer_fingerprint");
  p.proposal_model = s("proposal_model");
  p.proposal_fingerprint = s("proposal_fingerprint");
  p.task = s("task");
  p.dataset_source = s("dataset_source");
  p.dataset_fingerprint = s("dataset_fingerprint");
  p.seed = f.attr_int("/", "seed");
  p.batch_size = f.attr_int("/", "batch_size");
  p.world_size = f.attr_int("/", "world_size");
  p.max_new_tokens = f.attr_int("/", "max_new_tokens");
  if (f.has_attr("/", "stop_token_ids")) {
    ResponseStops stops;
    stops.token_ids = f.attr_ints("/", "stop_token_ids");
    const auto strings = nlohmann::json::parse(s("stop_strings"), nullptr, false);
    DISA_CHECK(strings.is_array(), DataError, "partition file '{}': attribute stop_strings is not a JSON array",
               f.path());
    for (const auto& x : strings) stops.strings.push_back(x.get<std::string>());
    stops.vocab_limit = f.attr_int("/", "vocab_limit");
    p.stops = std::move(stops);
  }
  p.code_version = s("code_version");
  p.config = s("config");
  return p;
}

Trajectories read_trajectory_rows(const h5::File& f, int64_t first, int64_t count) {
  Trajectories t;
  t.for_each_column([&](const auto& col, auto& data) {
    using C = std::decay_t<decltype(col)>;
    if constexpr (C::layout == Layout::kRows)
      data = f.read_rows<typename C::Element>(col.path(), first, count);
    else
      data = f.read_ragged_rows<typename C::Element>(col.path(), first, count);
  });
  return t;
}

Reader Reader::open(const std::string& path) {
  Reader r;
  r.path_ = path;
  r.file_ = h5::File::open(path, kFormat, kFormatVersion);
  r.provenance_ = read_provenance(r.file_);
  r.prompt_ids_ = r.file_.read_strings(kPromptIds);
  const auto batches = read_batches(r.file_);
  int64_t max_id = -1;
  for (const auto& b : batches) max_id = std::max(max_id, b.batch);
  r.batch_first_row_.assign(size_t(max_id + 1), -1);
  for (const auto& b : batches) r.batch_first_row_[size_t(b.batch)] = b.first_row;
  return r;
}

std::optional<int64_t> Reader::prompt_index(const std::string& id) const {
  auto it = std::find(prompt_ids_.begin(), prompt_ids_.end(), id);
  if (it == prompt_ids_.end()) return std::nullopt;
  return int64_t(it - prompt_ids_.begin());
}

std::vector<std::vector<int32_t>> Reader::prompt_tokens() const { return file_.read_ragged<int32_t>(kPromptTokens); }

std::vector<double> Reader::anchors(const std::string& residual) const {
  return file_.read<double>(anchor_dataset(residual));
}

std::vector<double> Reader::exact_log_z() const { return file_.read<double>("/anchors/log_z_exact"); }

std::vector<double> Reader::diagnostic(const std::string& name) const {
  DISA_CHECK(std::find(diagnostic_names().begin(), diagnostic_names().end(), name) != diagnostic_names().end(),
             DataError, "'{}': no diagnostic named '{}'", path_, name);
  return file_.read<double>("/diagnostics/" + name);
}

int64_t Reader::num_trajectories() const { return file_.shape(column::prompt_index.path()).at(0); }

Trajectories Reader::read_trajectories(int64_t first, int64_t count) const {
  return read_trajectory_rows(file_, first, count);
}

Trajectories Reader::read_rows(const std::vector<int64_t>& rows) const {
  Trajectories out;
  for (size_t i = 0; i < rows.size();) {
    size_t j = i + 1;
    while (j < rows.size() && rows[j] == rows[j - 1] + 1) ++j;
    const Trajectories run = read_trajectory_rows(file_, rows[i], int64_t(j - i));
    for (size_t r = 0; r < run.size(); ++r) out.push_back_row(run, r);
    i = j;
  }
  return out;
}

std::vector<int64_t> Reader::rows_of_prompt(int64_t p) const {
  const int64_t n = provenance_.samples_per_prompt, bs = provenance_.batch_size;
  std::vector<int64_t> rows;
  for (int64_t s = 0; s < n; ++s) {
    int64_t unit = p * n + s, batch = unit / bs;
    DISA_CHECK(batch < int64_t(batch_first_row_.size()) && batch_first_row_[size_t(batch)] >= 0, DataError,
               "'{}': batch {} (prompt {}, sample {}) is missing from {}", path_, batch, p, s, kBatches);
    rows.push_back(batch_first_row_[size_t(batch)] + unit - batch * bs);
  }
  return rows;
}

// --- Writer --------------------------------------------------------------------------

namespace {

// Rows per chunk of the batch index (one row per batch).
constexpr int64_t kBatchIndexChunk = 256;

}  // namespace

Writer Writer::create(const std::string& final_path, MPI_Comm comm, const Options& options) {
  DISA_CHECK(!options.reason_names.empty(), DataError,
             "partition::Writer: no reason names for {} (Writer::Options::reason_names)", column::reason.path());
  Writer w;
  w.deflate_ = options.deflate;
  w.file_ = h5::File::create(final_path, comm, kFormat, kFormatVersion);
  const int64_t chunk = std::max<int64_t>(1024, options.batch_size);
  for_each_trajectory_column([&](const auto& col) {
    using C = std::decay_t<decltype(col)>;
    if constexpr (C::layout == Layout::kRows)
      w.file_.create_appendable<typename C::Element>(col.path(), 1, chunk, options.deflate);
    else
      w.file_.create_appendable_ragged<typename C::Element>(col.path(), chunk, options.deflate);
    if (col.attr.value)
      w.file_.set_attr(col.path(), col.attr.name, std::string(col.attr.value));
    else if (col.attr.name)
      w.file_.set_code_names(col.path(), options.reason_names);
  });
  w.file_.create_appendable<int64_t>(kBatches, 3, kBatchIndexChunk, 0);
  return w;
}

Writer Writer::reopen(const std::string& final_path, MPI_Comm comm) {
  Writer w;
  w.file_ = h5::File::reopen_incomplete(final_path, comm, kFormat, kFormatVersion);
  return w;
}

std::vector<BatchRecord> Writer::drop_unrecorded_rows() {
  auto batches = read_batches(file_);
  int64_t rows = 0;
  for (const auto& b : batches) rows = std::max(rows, b.first_row + b.rows);
  for_each_trajectory_column([&](const auto& col) {
    using C = std::decay_t<decltype(col)>;
    if constexpr (C::layout == Layout::kRows) {
      file_.resize_rows(col.path(), rows);
    } else {
      const std::string offsets = col.path() + "/offsets";
      const int64_t values = file_.read_rows<int64_t>(offsets, rows, 1).at(0);
      file_.resize_rows(offsets, rows + 1);
      file_.resize_rows(col.path() + "/values", values);
    }
  });
  file_.flush();
  return batches;
}

void Writer::write_prompts(const std::vector<std::string>& ids, const std::vector<std::string>& texts,
                           const std::vector<std::vector<int32_t>>& tokens) {
  DISA_CHECK(ids.size() == texts.size() && ids.size() == tokens.size(), DataError,
             "'{}': prompt block of {} ids, {} texts, {} token rows", file_.path(), ids.size(), texts.size(),
             tokens.size());
  file_.write_strings(kPromptIds, ids);
  file_.write_strings(kPromptTexts, texts);
  file_.write_ragged(kPromptTokens, tokens, deflate_);
}

int64_t Writer::append(const Trajectories& rows, int64_t batch) {
  const size_t n = rows.size();
  rows.for_each_column([&](const auto& col, const auto& data) {
    DISA_CHECK(data.size() == n, DataError, "'{}': trajectory column {} has {} rows, {} has {}", file_.path(), col.name,
               data.size(), column::prompt_index.name, n);
  });
  int64_t first = 0;  // as every column returns it; taken from the first
  bool first_column = true;
  rows.for_each_column([&](const auto& col, const auto& data) {
    using C = std::decay_t<decltype(col)>;
    int64_t at = 0;
    if constexpr (C::layout == Layout::kRows)
      at = file_.append_rows(col.path(), data);
    else
      at = file_.append_ragged(col.path(), data);
    if (first_column) first = at;
    first_column = false;
  });
  std::vector<int64_t> index_row;
  if (batch >= 0) index_row = {batch, first, int64_t(n)};
  file_.append_rows(kBatches, index_row, 3);
  return first;
}

}  // namespace disa::io::partition
