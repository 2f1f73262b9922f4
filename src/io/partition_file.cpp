// Reader of the partition file (schema in include/disa/io/partition_file.hpp).
#include "disa/io/partition_file.hpp"

#include <algorithm>
#include <sstream>

namespace disa::partition {

std::string anchor_dataset(const std::string& residual) {
  if (residual == kSequenceAnchor) return "/anchors/log_z_hat";
  if (residual == kLengthNormalizedAnchor) return "/anchors/log_z_length_normalized";
  DISA_THROW(DataError, "unknown anchor/residual form '{}' (known: {}, {})", residual, kSequenceAnchor,
             kLengthNormalizedAnchor);
}

std::vector<std::string> reason_names(const h5::File& file) {
  std::vector<std::string> names;
  std::stringstream in(file.attr_string("/trajectories/reason", "names"));
  std::string name;
  while (std::getline(in, name, ',')) names.push_back(name);
  return names;
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
  p.code_version = s("code_version");
  p.config = s("config");
  return p;
}

Trajectories read_trajectory_rows(const h5::File& f, int64_t first, int64_t count) {
  Trajectories t;
  const std::string base = "/trajectories/";
  t.prompt_index = f.read_rows<int64_t>(base + "prompt_index", first, count);
  t.sample_index = f.read_rows<int64_t>(base + "sample_index", first, count);
  t.tokens = f.read_ragged_rows<int32_t>(base + "tokens", first, count);
  t.length = f.read_rows<int32_t>(base + "length", first, count);
  t.finish_reason = f.read_rows<int8_t>(base + "finish_reason", first, count);
  t.component = f.read_rows<int8_t>(base + "component", first, count);
  t.reason = f.read_rows<int8_t>(base + "reason", first, count);
  t.reward = f.read_rows<double>(base + "reward", first, count);
  t.log_q = f.read_rows<double>(base + "log_q", first, count);
  t.log_pi_ref = f.read_rows<double>(base + "log_pi_ref", first, count);
  t.log_q_strong = f.read_rows<double>(base + "log_q_strong", first, count);
  t.log_weight = f.read_rows<double>(base + "log_weight", first, count);
  return t;
}

Reader Reader::open(const std::string& path) {
  Reader r;
  r.path_ = path;
  r.file_ = h5::File::open(path, kFormat, kFormatVersion);
  r.provenance_ = read_provenance(r.file_);
  r.prompt_ids_ = r.file_.read_strings("/prompts/id");
  auto batches = r.file_.read<int64_t>("/trajectories/batches");
  int64_t max_id = -1;
  for (size_t i = 0; i < batches.size(); i += 3) max_id = std::max(max_id, batches[i]);
  r.batch_first_row_.assign(size_t(max_id + 1), -1);
  for (size_t i = 0; i < batches.size(); i += 3) r.batch_first_row_[size_t(batches[i])] = batches[i + 1];
  return r;
}

std::optional<int64_t> Reader::prompt_index(const std::string& id) const {
  auto it = std::find(prompt_ids_.begin(), prompt_ids_.end(), id);
  if (it == prompt_ids_.end()) return std::nullopt;
  return int64_t(it - prompt_ids_.begin());
}

std::vector<std::vector<int32_t>> Reader::prompt_tokens() const {
  return file_.read_ragged<int32_t>("/prompts/tokens");
}

std::vector<double> Reader::anchors(const std::string& residual) const {
  return file_.read<double>(anchor_dataset(residual));
}

std::vector<double> Reader::exact_log_z() const { return file_.read<double>("/anchors/log_z_exact"); }

std::vector<double> Reader::diagnostic(const std::string& name) const {
  DISA_CHECK(std::find(diagnostic_names().begin(), diagnostic_names().end(), name) != diagnostic_names().end(),
             DataError, "'{}': no diagnostic named '{}'", path_, name);
  return file_.read<double>("/diagnostics/" + name);
}

int64_t Reader::num_trajectories() const { return file_.shape("/trajectories/prompt_index").at(0); }

Trajectories Reader::read_trajectories(int64_t first, int64_t count) const {
  return read_trajectory_rows(file_, first, count);
}

std::vector<int64_t> Reader::rows_of_prompt(int64_t p) const {
  const int64_t n = provenance_.samples_per_prompt, bs = provenance_.batch_size;
  std::vector<int64_t> rows;
  for (int64_t s = 0; s < n; ++s) {
    int64_t unit = p * n + s, batch = unit / bs;
    DISA_CHECK(batch < int64_t(batch_first_row_.size()) && batch_first_row_[size_t(batch)] >= 0, DataError,
               "'{}': batch {} (prompt {}, sample {}) is missing from /trajectories/batches", path_, batch, p, s);
    rows.push_back(batch_first_row_[size_t(batch)] + unit - batch * bs);
  }
  return rows;
}

}  // namespace disa::partition
