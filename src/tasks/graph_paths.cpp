// graph_paths: graph parsing and printing, simple-path enumeration by depth-first
// search, deterministic generation with a solution-count window, and the verifier.
#include "disa/tasks/graph_paths.hpp"

#include <algorithm>
#include <set>

#include "disa/core/error.hpp"

namespace disa::tasks {

namespace {

constexpr int kMaxNodes = 26;

char label(int node) { return static_cast<char>('A' + node); }

int node_of(const Record& record, const std::string& field, int nodes) {
  std::string s = record.text(field);
  DISA_CHECK(s.size() == 1 && s[0] >= 'A' && s[0] < 'A' + nodes, DataError,
             "record '{}': field '{}' must be one node letter of the graph (got '{}')", record.id, field, s);
  return s[0] - 'A';
}

std::string path_text(const std::vector<int>& path) {
  std::string out;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (i) out += ' ';
    out += label(path[i]);
  }
  return out;
}

void dfs(const SmallGraph& g, int node, int t, std::vector<bool>& on_path, std::vector<int>& path,
         std::vector<std::vector<int>>& out, std::size_t limit) {
  if (out.size() >= limit) return;
  if (node == t) {
    out.push_back(path);
    return;
  }
  for (int next = 0; next < g.nodes; ++next) {
    if (!g.adjacent[node][next] || on_path[next]) continue;
    on_path[next] = true;
    path.push_back(next);
    dfs(g, next, t, on_path, path, out, limit);
    path.pop_back();
    on_path[next] = false;
  }
}

}  // namespace

SmallGraph SmallGraph::parse(const std::string& edges, const std::string& what) {
  SmallGraph g;
  std::vector<std::pair<int, int>> pairs;
  std::size_t i = 0;
  while (i < edges.size()) {
    if (edges[i] == ' ') {
      ++i;
      continue;
    }
    DISA_CHECK(i + 1 < edges.size() && std::isupper(static_cast<unsigned char>(edges[i])) &&
                   std::isupper(static_cast<unsigned char>(edges[i + 1])) &&
                   (i + 2 == edges.size() || edges[i + 2] == ' ') && edges[i] != edges[i + 1],
               DataError,
               "{}: edges must be pairs of distinct capital letters separated by "
               "spaces (got '{}')",
               what, edges);
    int a = edges[i] - 'A', b = edges[i + 1] - 'A';
    pairs.push_back({a, b});
    g.nodes = std::max(g.nodes, std::max(a, b) + 1);
    i += 2;
  }
  g.adjacent.assign(g.nodes, std::vector<bool>(g.nodes, false));
  for (auto [a, b] : pairs) g.adjacent[a][b] = g.adjacent[b][a] = true;
  return g;
}

std::string SmallGraph::edges_text() const {
  std::string out;
  for (int a = 0; a < nodes; ++a)
    for (int b = a + 1; b < nodes; ++b)
      if (adjacent[a][b]) {
        if (!out.empty()) out += ' ';
        out += label(a);
        out += label(b);
      }
  return out;
}

std::vector<std::vector<int>> SmallGraph::simple_paths(int s, int t, std::size_t limit) const {
  std::vector<std::vector<int>> out;
  std::vector<bool> on_path(nodes, false);
  std::vector<int> path = {s};
  on_path[s] = true;
  dfs(*this, s, t, on_path, path, out, limit);
  return out;
}

GraphPathsTask::GraphPathsTask(TaskOptions options) : options_(std::move(options)) {
  DISA_CHECK(options_.graph_nodes >= 3 && options_.graph_nodes <= kMaxNodes, ConfigError,
             "option --task.graph-nodes: must be 3..{} (got {})", kMaxNodes, options_.graph_nodes);
  DISA_CHECK(options_.graph_edge_probability > 0.0 && options_.graph_edge_probability <= 1.0, ConfigError,
             "option --task.graph-edge-probability: must be in (0, 1] (got {})", options_.graph_edge_probability);
}

Dataset GraphPathsTask::make_dataset() const {
  const TaskOptions& o = options_;
  return draw_synthetic_dataset(
      o, "graph_paths", "graph", fmt::format("{} nodes, edge probability {}", o.graph_nodes, o.graph_edge_probability),
      [&o](Rng& rng) -> std::optional<SyntheticCandidate> {
        SmallGraph g;
        g.nodes = o.graph_nodes;
        g.adjacent.assign(g.nodes, std::vector<bool>(g.nodes, false));
        for (int a = 0; a < g.nodes; ++a)
          for (int b = a + 1; b < g.nodes; ++b)
            if (rng.uniform() < o.graph_edge_probability) g.adjacent[a][b] = g.adjacent[b][a] = true;
        int s = static_cast<int>(rng.uniform_int(0, g.nodes - 1));
        int t = static_cast<int>(rng.uniform_int(0, g.nodes - 2));
        if (t >= s) ++t;
        const std::string edges = g.edges_text();
        if (edges.empty()) return std::nullopt;
        // The graph as written: nodes beyond the last one named in an edge do not exist.
        SmallGraph written = SmallGraph::parse(edges, "generated graph");
        if (s >= written.nodes || t >= written.nodes) return std::nullopt;
        const std::size_t cap = static_cast<std::size_t>(o.max_solutions) + 1;  // enough to reject "too many"
        return SyntheticCandidate{
            edges + " " + label(s) + "->" + label(t),
            {{"edges", edges}, {"source", std::string(1, label(s))}, {"target", std::string(1, label(t))}},
            [written, s, t, cap] { return static_cast<int>(written.simple_paths(s, t, cap).size()); }};
      });
}

std::string GraphPathsTask::render_prompt(const Record& record) const {
  return render_template(options_.prompt_template.empty() ? kDefaultTemplate : options_.prompt_template, record);
}

RewardResult GraphPathsTask::reward(const Record& record, const std::string& response) const {
  const SmallGraph g = SmallGraph::parse(record.text("edges"), fmt::format("record '{}': field 'edges'", record.id));
  const int s = node_of(record, "source", g.nodes);
  const int t = node_of(record, "target", g.nodes);
  if (auto screened = screen_response(response, options_.response_limits)) return *screened;
  RewardResult r;
  if (response.back() != '\n') {
    r.reason = Reason::Unterminated;
    r.detail = "the path must end with a newline";
    return r;
  }
  const std::string body = response.substr(0, response.size() - 1);
  std::vector<int> path;
  for (std::size_t i = 0; i < body.size(); i += 2) {
    const char c = body[i];
    if (c < 'A' || c >= 'A' + g.nodes || (i + 1 < body.size() && body[i + 1] != ' ') ||
        (i + 1 == body.size() - 1 && body[i + 1] == ' ')) {
      r.reason = Reason::Unparsable;
      r.detail = "expected node letters separated by single spaces, e.g. 'A C D'";
      return r;
    }
    path.push_back(c - 'A');
  }
  if (path.empty() || body.back() == ' ') {
    r.reason = Reason::Unparsable;
    r.detail = "expected node letters separated by single spaces, e.g. 'A C D'";
    return r;
  }
  r.canonical_key = body;
  std::vector<bool> visited(g.nodes, false);
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (visited[path[i]]) {
      r.reason = Reason::RuleViolation;
      r.detail = fmt::format("node {} repeats: not a simple path", label(path[i]));
      return r;
    }
    visited[path[i]] = true;
    if (i > 0 && !g.adjacent[path[i - 1]][path[i]]) {
      r.reason = Reason::RuleViolation;
      r.detail = fmt::format("no edge {}{}", label(path[i - 1]), label(path[i]));
      return r;
    }
  }
  if (path.front() != s || path.back() != t) {
    r.reason = Reason::WrongAnswer;
    r.detail = fmt::format("the path must go from {} to {}", label(s), label(t));
    return r;
  }
  r.reward = 1.0;
  r.reason = Reason::Correct;
  return r;
}

std::optional<std::vector<std::string>> GraphPathsTask::enumerate_solutions(const Record& record) const {
  const SmallGraph g = SmallGraph::parse(record.text("edges"), fmt::format("record '{}': field 'edges'", record.id));
  const int s = node_of(record, "source", g.nodes);
  const int t = node_of(record, "target", g.nodes);
  std::vector<std::string> out;
  for (const auto& p : g.simple_paths(s, t, SIZE_MAX)) out.push_back(path_text(p) + "\n");
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace disa::tasks
