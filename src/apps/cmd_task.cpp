// `disa task sample` and `disa task check`: look at a task's prompts (with one correct
// solution and the size of the solution set where it can be listed), and score a JSONL
// file of responses against a task's data set, printing per-verdict counts.
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "disa/core/error.hpp"
#include "disa/core/log.hpp"
#include "disa/core/table.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/tasks/registry.hpp"

namespace disa::apps {
namespace {

using Json = nlohmann::json;

// A prompt or response shown on one line: JSON string escapes without the quotes.
std::string one_line(const std::string& text, std::size_t max_chars = 100) {
  std::string s = Json(text).dump(-1, ' ', false, Json::error_handler_t::replace);
  s = s.substr(1, s.size() - 2);
  if (s.size() > max_chars) s = s.substr(0, max_chars - 3) + "...";
  return s;
}

int run_task_sample(const std::vector<std::string>& args, dist::MpiContext& mpi) {
  core::Options opts("task sample", "print prompts with one correct solution and the solution-set size");
  tasks::add_task_options(opts);
  opts.add_int("sample.n", 5, "number of prompts to print (from the start of the data set)");
  opts.add_string("sample.format", "table", "table (human-readable) or jsonl (id, prompt, solutions, n_solutions)");
  opts.add_bool("sample.all-solutions", false, "jsonl: list every correct response, not one");
  auto cfg = parse_command(opts, args, mpi, /*quiet=*/true);
  if (!cfg) return 0;
  const tasks::TaskOptions options = tasks::task_options_from_config(*cfg);
  const int64_t n = cfg->get_int("sample.n");
  cfg->require(n >= 1, "sample.n", "must be >= 1");
  const std::string format = cfg->get_string("sample.format");
  cfg->require(format == "table" || format == "jsonl", "sample.format", "must be table or jsonl");
  const bool all = cfg->get_bool("sample.all-solutions");
  if (!mpi.is_root()) return 0;

  auto task = tasks::make_task(options);
  const tasks::Dataset ds = task->make_dataset();
  core::log::info("task {}: {} records from {} (fingerprint {})", task->name(), ds.size(), ds.source(),
                  ds.fingerprint());
  const std::size_t count = std::min<std::size_t>(static_cast<std::size_t>(n), ds.size());
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < count; ++i) {
    const tasks::Record& r = ds[i];
    const std::string prompt = task->render_prompt(r);
    auto solutions = task->enumerate_solutions(r);
    if (format == "jsonl") {
      Json line = {{"id", r.id}, {"prompt", prompt}};
      if (solutions) {
        line["n_solutions"] = solutions->size();
        line["solutions"] =
            all ? *solutions
                : std::vector<std::string>(solutions->begin(),
                                           solutions->begin() + std::min<std::size_t>(1, solutions->size()));
      } else {
        line["fields"] = r.fields;
      }
      std::printf("%s\n", line.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
      continue;
    }
    std::string solution, size;
    if (solutions) {
      solution = solutions->empty() ? "(none)" : one_line(solutions->front(), 40);
      size = std::to_string(solutions->size());
    } else if (r.fields.contains("answer")) {
      solution = "answer: " + one_line(r.text("answer"), 40);
      size = "not listable";
    } else if (r.fields.contains("tests")) {
      solution = std::to_string(r.at("tests").size()) + " tests";
      size = "not listable";
    }
    rows.push_back({r.id, one_line(prompt, 80), solution, size});
  }
  if (format == "table")
    std::fputs(core::render_grid({"id", "prompt", "one correct response", "solutions"}, rows).c_str(), stdout);
  return 0;
}

int run_task_check(const std::vector<std::string>& args, dist::MpiContext& mpi) {
  core::Options opts("task check", "score a JSONL file of responses and print per-verdict counts");
  tasks::add_task_options(opts);
  opts.add_string("check.responses", "", "JSONL file with one {\"id\", \"response\"} per line");
  opts.add_string("check.id-field", "id", "JSON key of the record id in the responses file");
  opts.add_string("check.response-field", "response", "JSON key of the response text");
  opts.add_string("check.output", "", "optional JSONL file: id, reward, reason, canonical_key, detail per response");
  auto cfg = parse_command(opts, args, mpi, /*quiet=*/true);
  if (!cfg) return 0;
  const tasks::TaskOptions options = tasks::task_options_from_config(*cfg);
  const std::string path = cfg->get_string("check.responses");
  cfg->require(!path.empty(), "check.responses", "a JSONL file of responses is required");
  const std::string id_field = cfg->get_string("check.id-field");
  const std::string response_field = cfg->get_string("check.response-field");
  const std::string output = cfg->get_string("check.output");
  if (!mpi.is_root()) return 0;

  auto task = tasks::make_task(options);
  const tasks::Dataset ds = task->make_dataset();
  std::ifstream in(path);
  DISA_CHECK(in.good(), IoError, "option --check.responses: cannot open {}", path);
  std::vector<const tasks::Record*> records;
  std::vector<std::string> responses;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json j;
    try {
      j = Json::parse(line);
    } catch (const Json::parse_error& e) {
      DISA_THROW(DataError, "{}:{}: malformed JSON: {}", path, line_no, e.what());
    }
    DISA_CHECK(j.is_object(), DataError, "{}:{}: expected a JSON object", path, line_no);
    DISA_CHECK(j.contains(id_field), DataError, "{}:{}: missing field '{}'", path, line_no, id_field);
    DISA_CHECK(j.contains(response_field) && j[response_field].is_string(), DataError,
               "{}:{}: missing string field '{}'", path, line_no, response_field);
    const std::string id = j[id_field].is_string() ? j[id_field].get<std::string>() : j[id_field].dump();
    DISA_CHECK(ds.contains(id), DataError, "{}:{}: id '{}' is not in the data set {}", path, line_no, id, ds.source());
    records.push_back(&ds.by_id(id));
    responses.push_back(j[response_field].get<std::string>());
  }
  DISA_CHECK(!records.empty(), DataError, "{}: no responses", path);

  const auto results = task->reward_batch(records, responses);
  std::map<std::string, std::size_t> counts;
  std::map<std::string, std::set<std::string>> correct_keys;  // per record
  double total = 0.0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    counts[tasks::to_string(results[i].reason)]++;
    total += results[i].reward;
    if (results[i].reward == 1.0) correct_keys[records[i]->id].insert(results[i].canonical_key);
  }
  if (!output.empty()) {
    std::ofstream out(output);
    DISA_CHECK(out.good(), IoError, "option --check.output: cannot write {}", output);
    for (std::size_t i = 0; i < results.size(); ++i)
      out << Json{{"id", records[i]->id},
                  {"reward", results[i].reward},
                  {"reason", tasks::to_string(results[i].reason)},
                  {"canonical_key", results[i].canonical_key},
                  {"detail", results[i].detail}}
                 .dump(-1, ' ', false, Json::error_handler_t::replace)
          << "\n";
    DISA_CHECK(out.good(), IoError, "option --check.output: write to {} failed", output);
  }
  std::vector<std::vector<std::string>> rows;
  std::size_t n_reasons = 0;
  const tasks::Reason* reasons = tasks::all_reasons(&n_reasons);
  for (std::size_t k = 0; k < n_reasons; ++k) {
    auto it = counts.find(tasks::to_string(reasons[k]));
    if (it == counts.end()) continue;
    rows.push_back(
        {it->first, std::to_string(it->second), fmt::format("{:.1f}%", 100.0 * it->second / results.size())});
  }
  std::size_t distinct = 0;
  for (const auto& [id, keys] : correct_keys) distinct += keys.size();
  std::fputs(core::render_grid({"verdict", "count", "share"}, rows).c_str(), stdout);
  core::Table summary("task check");
  summary.row("task", task->name())
      .row("data set", ds.source())
      .row("responses", fmt::format("{} ({})", results.size(), path))
      .row("mean reward", fmt::format("{:.4f}", total / results.size()))
      .row("distinct correct solutions", std::to_string(distinct));
  std::fputs(summary.render().c_str(), stdout);
  return 0;
}

}  // namespace

DISA_REGISTER_COMMAND("task sample", "print prompts with one correct solution and the solution-set size",
                      run_task_sample);
DISA_REGISTER_COMMAND("task check", "score a JSONL file of responses: per-verdict counts", run_task_check);

}  // namespace disa::apps
