// Data records and data sets of the tasks: a record is an id plus named fields (JSON
// values); a data set is an ordered list of records with unique ids, generated
// deterministically (synthetic tasks) or read from a JSONL file (math, code).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace disa::tasks {

struct Record {
  std::string id;
  nlohmann::json fields = nlohmann::json::object();

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
};

// Reads one JSON object per non-blank line. Errors name file and line: malformed JSON,
// a line that is not an object, a missing field (named), a duplicate id; an empty file
// is an error too. Other keys of each line are kept in the record's fields.
Dataset load_jsonl(const std::string& path, const JsonlFieldMap& map);

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

}  // namespace disa::tasks
