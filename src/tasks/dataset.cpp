// Records, data sets, JSONL loading with file:line errors, the portable random
// generator of the synthetic tasks and the content-hashed train/test split.
#include "disa/tasks/dataset.hpp"

#include <filesystem>
#include <fstream>
#include <set>

#include "disa/core/error.hpp"
#include "disa/tasks/task_options.hpp"

namespace disa::tasks {

const nlohmann::json& Record::at(const std::string& field) const {
  auto it = fields.find(field);
  DISA_CHECK(it != fields.end(), DataError, "record '{}': missing field '{}'", id, field);
  return *it;
}

std::string Record::text(const std::string& field) const {
  const auto& v = at(field);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  DISA_THROW(DataError, "record '{}': field '{}' must be a string or a number (got {})", id, field, v.type_name());
}

Dataset::Dataset(std::string source, std::vector<Record> records)
    : source_(std::move(source)), records_(std::move(records)) {
  for (std::size_t i = 0; i < records_.size(); ++i) {
    auto [it, inserted] = index_.emplace(records_[i].id, i);
    DISA_CHECK(inserted, DataError, "{}: duplicate record id '{}'", source_, records_[i].id);
  }
}

const Record& Dataset::by_id(const std::string& id) const {
  auto it = index_.find(id);
  DISA_CHECK(it != index_.end(), DataError, "{}: no record with id '{}'", source_, id);
  return records_[it->second];
}

uint64_t fnv1a64(const std::string& text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string Dataset::fingerprint() const {
  std::string all;
  for (const auto& r : records_) {
    all += r.id;
    all += '\x1f';
    all += r.fields.dump();
    all += '\x1e';
  }
  return fmt::format("{:016x}", fnv1a64(all));
}

namespace {
// The next line of `in` without its '\n' into `line`; false at the end of the input. A line
// longer than `limit` bytes is a DataError as soon as its limit-th byte is read.
bool read_bounded_line(std::istream& in, std::string& line, int64_t limit, const std::string& path,
                       std::size_t line_no) {
  line.clear();
  std::streambuf* buffer = in.rdbuf();
  for (;;) {
    const int c = buffer->sbumpc();
    if (c == std::char_traits<char>::eof()) return !line.empty();
    if (c == '\n') return true;
    DISA_CHECK(int64_t(line.size()) < limit, DataError,
               "{}:{}: the line is longer than {} bytes (--task.max-line-bytes); not read further", path, line_no,
               limit);
    line.push_back(char(c));
  }
}
}  // namespace

Dataset load_jsonl(const std::string& path, const JsonlFieldMap& map) {
  std::ifstream in(path);
  DISA_CHECK(in.good(), IoError, "cannot open data file {}", path);
  const std::string stem = std::filesystem::path(path).stem().string();
  std::vector<Record> records;
  std::map<std::string, std::size_t> seen;
  std::string line;
  std::size_t line_no = 0;
  while (read_bounded_line(in, line, map.max_line_bytes, path, line_no + 1)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      DISA_THROW(DataError, "{}:{}: malformed JSON: {}", path, line_no, e.what());
    }
    DISA_CHECK(j.is_object(), DataError, "{}:{}: expected a JSON object, got {}", path, line_no, j.type_name());
    Record r;
    if (map.id_field.empty()) {
      r.id = fmt::format("{}-{}", stem, line_no);
    } else {
      auto it = j.find(map.id_field);
      DISA_CHECK(it != j.end(), DataError, "{}:{}: missing field '{}'", path, line_no, map.id_field);
      DISA_CHECK(it->is_string() || it->is_number_integer(), DataError,
                 "{}:{}: field '{}' must be a string or an integer", path, line_no, map.id_field);
      r.id = it->is_string() ? it->get<std::string>() : it->dump();
    }
    for (const auto& [field, key] : map.required)
      DISA_CHECK(j.contains(key), DataError, "{}:{}: missing field '{}'", path, line_no, key);
    r.fields = j;
    r.origin = fmt::format("{}:{}", path, line_no);
    for (const auto& [field, key] : map.required)
      if (field != key) r.fields[field] = j[key];
    auto [it, inserted] = seen.emplace(r.id, line_no);
    DISA_CHECK(inserted, DataError, "{}:{}: duplicate id '{}' (first on line {})", path, line_no, r.id, it->second);
    records.push_back(std::move(r));
  }
  DISA_CHECK(!records.empty(), DataError, "{}: empty data set (no records)", path);
  return Dataset(path, std::move(records));
}

uint64_t Rng::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int64_t Rng::uniform_int(int64_t lo, int64_t hi) {
  DISA_ASSERT(lo <= hi);
  const uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
  if (range == 0) return static_cast<int64_t>(next());
  const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  uint64_t x;
  do {
    x = next();
  } while (x >= limit);
  return lo + static_cast<int64_t>(x % range);
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

std::string split_of(const std::string& content_key, int test_percent) {
  return fnv1a64("disa-split:" + content_key) % 100 < static_cast<uint64_t>(test_percent) ? "test" : "train";
}

Dataset load_task_data(const TaskOptions& o, const std::string& task,
                       std::vector<std::pair<std::string, std::string>> required) {
  DISA_CHECK(!o.data_path.empty(), ConfigError,
             "option --task.data: the {} task needs a JSONL file (e.g. tests/fixtures/{}.jsonl)", task, task);
  JsonlFieldMap map;
  map.id_field = o.id_field;
  map.required = std::move(required);
  map.max_line_bytes = o.max_line_bytes;
  return load_jsonl(o.data_path, map);
}

Dataset draw_synthetic_dataset(const TaskOptions& o, const std::string& task, const std::string& id_prefix,
                               const std::string& difficulty,
                               const std::function<std::optional<SyntheticCandidate>(Rng&)>& draw) {
  Rng rng(fnv1a64(task) ^ o.seed);
  std::vector<Record> records;
  std::set<std::string> seen;
  const int64_t max_attempts = 2000 + 2000LL * o.count;
  for (int64_t attempt = 0; attempt < max_attempts && static_cast<int>(records.size()) < o.count; ++attempt) {
    auto candidate = draw(rng);
    if (!candidate) continue;
    if (seen.count(candidate->key) || split_of(candidate->key, o.test_percent) != o.split) continue;
    seen.insert(candidate->key);
    const int n = candidate->count_solutions();
    if (n < std::max(1, o.min_solutions) || n > o.max_solutions) continue;  // never a prompt without a solution
    Record r;
    r.id = fmt::format("{}-{}-{:05d}", id_prefix, o.split, records.size());
    r.fields = std::move(candidate->fields);
    records.push_back(std::move(r));
  }
  DISA_CHECK(static_cast<int>(records.size()) == o.count, ConfigError,
             "{}: found only {} of --task.count={} distinct {} prompts with {}..{} solutions ({}); relax "
             "--task.min-solutions/--task.max-solutions or change the difficulty",
             task, records.size(), o.count, o.split, o.min_solutions, o.max_solutions, difficulty);
  return Dataset(fmt::format("{} seed={} split={} count={}", task, o.seed, o.split, o.count), std::move(records));
}

}  // namespace disa::tasks
