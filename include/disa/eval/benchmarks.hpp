// The benchmarks of one `disa eval` run, from the repeated option --eval.dataset:
//   NAME=PATH       a JSONL file scored by the task of --task.name (math or code)
//   NAME=TASK:PATH  a JSONL file scored by TASK (math or code)
//   NAME=TASK       a synthetic task (countdown, graph_paths) generated with task.*
//   TASK            the same, named after the task
//   PATH            a JSONL file (task of --task.name), named after the file stem
// Without any --eval.dataset the run has one benchmark: the task of task.* options.
// Every benchmark is resolved and its data loaded before any output file exists; a
// missing file names the option and the benchmark, a malformed one its line.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "disa/tasks/dataset.hpp"
#include "disa/tasks/task.hpp"
#include "disa/tasks/task_options.hpp"

namespace disa::eval {

struct BenchmarkSpec {
  std::string name;         // unique within the run; a row of the results table
  std::string entry;        // the --eval.dataset value it came from ("" for task.*)
  tasks::TaskOptions task;  // base task.* options with the name and data path set
};

// Parses the entries (ConfigError naming --eval.dataset for a bad entry, an unknown
// task, a data file that does not exist, or a duplicate name).
std::vector<BenchmarkSpec> parse_benchmarks(const std::vector<std::string>& entries, const tasks::TaskOptions& base);

struct Benchmark {
  BenchmarkSpec spec;
  std::unique_ptr<tasks::Task> task;
  tasks::Dataset dataset;
};

// Builds each task and its data set (errors of the data loader name file and line; an
// empty data set is a DataError naming the benchmark).
std::vector<Benchmark> load_benchmarks(const std::vector<BenchmarkSpec>& specs);

}  // namespace disa::eval
