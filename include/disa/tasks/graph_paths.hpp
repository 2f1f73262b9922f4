// graph_paths: give a simple path from s to t in a small random undirected graph.
// Nodes are the letters A, B, C, ...; the prompt lists the edges as letter pairs
// ("AB AC BD"). Response format (strict): the path's nodes separated by single spaces,
// followed by "\n" (the terminator), e.g. "A C D E\n". Every distinct simple path is a
// distinct solution (its canonical key is the node list itself), so the correct set is
// the finite set of simple s-t paths and enumerate_solutions lists all of them.
#pragma once

#include <string>
#include <vector>

#include "disa/tasks/task.hpp"
#include "disa/tasks/task_options.hpp"

namespace disa::tasks {

// An undirected graph on nodes 0..n-1 (letters A.. in text).
struct SmallGraph {
  int nodes = 0;
  std::vector<std::vector<bool>> adjacent;

  // "AB AC BD" (sorted pairs); DataError naming `what` for a malformed list.
  static SmallGraph parse(const std::string& edges, const std::string& what);
  std::string edges_text() const;
  // Every simple path from s to t, each as node indices.
  std::vector<std::vector<int>> simple_paths(int s, int t, std::size_t limit) const;
};

class GraphPathsTask : public Task {
 public:
  explicit GraphPathsTask(TaskOptions options);
  std::string name() const override { return "graph_paths"; }
  Dataset make_dataset() const override;
  std::string render_prompt(const Record& record) const override;
  RewardResult reward(const Record& record, const std::string& response) const override;
  std::optional<std::vector<std::string>> enumerate_solutions(const Record& record) const override;
  std::string response_terminator() const override { return "\n"; }

  static constexpr const char* kDefaultTemplate = "graph {edges} path {source} to {target}\\n";

 private:
  TaskOptions options_;
};

}  // namespace disa::tasks
