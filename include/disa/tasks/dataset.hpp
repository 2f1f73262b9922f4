// Data records and data sets of the tasks: a record is an id plus named fields (JSON
// values); a data set is an ordered list of records with unique ids, generated
// deterministically (synthetic tasks) or read from a JSONL file (math, code).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace disa::tasks {

struct Record {
  std::string id;
  nlohmann::json fields = nlohmann::json::object();
  std::string origin;  // "FILE:LINE" for a record read from a data file; empty for drawn ones

  // The field as a string (JSON numbers are printed); DataError naming the record and
  // the field when it is missing or not a string/number.
  std::string text(const std::string& field) const;
  // The field as JSON; DataError naming the record and field when missing.
  const nlohmann::json& at(const std::string& field) const;
};

class Dataset {
 public:
  Dataset() = default;
  // `source` says where the records came from ("countdown seed=1 split=train", a path).
  Dataset(std::string source, std::vector<Record> records);

  const std::string& source() const { return source_; }
  const std::vector<Record>& records() const { return records_; }
  std::size_t size() const { return records_.size(); }
  const Record& operator[](std::size_t i) const { return records_[i]; }
  // The record with this id; DataError naming the id and the source when absent.
  const Record& by_id(const std::string& id) const;
  bool contains(const std::string& id) const { return index_.count(id) != 0; }
  // FNV-1a over ids and fields: identifies the data set in provenance.
  std::string fingerprint() const;

 private:
  std::string source_;
  std::vector<Record> records_;
  std::map<std::string, std::size_t> index_;
};

// How JSONL fields map to record fields. An empty `id_field` numbers the records by
// line ("<file stem>-<line>").
struct JsonlFieldMap {
  std::string id_field = "id";
  // (record field name, JSON key) pairs that every line must have.
  std::vector<std::pair<std::string, std::string>> required;
  int64_t max_line_bytes = 1 << 20;  // a longer line is refused as soon as it is seen
};

// Reads one JSON object per non-blank line. Errors name file and line: malformed JSON,
// a line that is not an object, a missing field (named), a duplicate id, a line longer
// than max_line_bytes (refused while reading: memory stays bounded by the limit); an
// empty file is an error too. Other keys of each line are kept in the record's fields.
Dataset load_jsonl(const std::string& path, const JsonlFieldMap& map);

struct TaskOptions;
// The data set of a file-based task (math, code): the JSONL file --task.data, ids from
// --task.id-field, and the `required` (record field, JSON key) pairs. ConfigError naming
// --task.data when it is not given.
Dataset load_task_data(const TaskOptions& options, const std::string& task,
                       std::vector<std::pair<std::string, std::string>> required);

// 64-bit FNV-1a of a string (stable across platforms and runs).
uint64_t fnv1a64(const std::string& text);

// A small deterministic random generator (splitmix64): the same seed gives the same
// stream on every platform, unlike std::uniform_int_distribution.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  // Uniform integer in [lo, hi] (inclusive), without modulo bias.
  int64_t uniform_int(int64_t lo, int64_t hi);
  // Uniform double in [0, 1).
  double uniform();

 private:
  uint64_t state_;
};

// Which split a synthetic prompt belongs to, decided by its content alone (not by the
// seed), so train and test never share a prompt whatever seeds are used:
// "test" for `test_percent` percent of contents, "train" otherwise.
std::string split_of(const std::string& content_key, int test_percent);

// One drawn prompt of a synthetic task: its content key (split and deduplication), its
// fields, and a count of its solutions (called only for a new key of the wanted split).
struct SyntheticCandidate {
  std::string key;
  nlohmann::json fields;
  std::function<int()> count_solutions;
};

// The data set of a synthetic task: draws candidates with an Rng seeded by (task,
// options.seed) until options.count distinct ones of options.split have
// options.min_solutions..max_solutions solutions; `draw` returns nullopt to reject a
// draw. Records are named "<id_prefix>-<split>-<00000>". ConfigError saying what to relax
// when the attempts run out (`difficulty` describes the task's knobs).
Dataset draw_synthetic_dataset(const TaskOptions& options, const std::string& task, const std::string& id_prefix,
                               const std::string& difficulty,
                               const std::function<std::optional<SyntheticCandidate>(Rng&)>& draw);

}  // namespace disa::tasks
