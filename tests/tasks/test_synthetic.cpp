// Synthetic tasks: every enumerated solution gets reward 1, random wrong strings do not,
// the enumeration is exactly the reward-1 set on small exhaustive checks, generation is
// deterministic with disjoint splits, sizes respect the knobs, canonical keys merge
// commutative rewrites.
#include <gtest/gtest.h>

#include <set>

#include "disa/core/error.hpp"
#include "disa/tasks/countdown.hpp"
#include "disa/tasks/graph_paths.hpp"
#include "disa/tasks/registry.hpp"

using namespace disa::tasks;

namespace {

TaskOptions options_for(const std::string& name, const std::string& split = "train", int count = 40) {
  TaskOptions o;
  o.name = name;
  o.split = split;
  o.count = count;
  o.seed = 7;
  return o;
}

Record countdown_record(const std::string& numbers, int target) {
  Record r;
  r.id = "t";
  r.fields = {{"numbers", numbers}, {"target", std::to_string(target)}};
  return r;
}

// Random strings over the task's alphabet, some close to solutions.
std::vector<std::string> random_strings(const std::string& alphabet, int n, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string s;
    int len = static_cast<int>(rng.uniform_int(1, 12));
    for (int k = 0; k < len; ++k) s += alphabet[rng.uniform_int(0, alphabet.size() - 1)];
    out.push_back(s + "\n");
  }
  return out;
}

}  // namespace

TEST(Countdown, ParseAndCanonicalText) {
  std::string err;
  auto e = parse_countdown("3*(4+5)", &err);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value(), 27);
  EXPECT_EQ(e->canonical_text(), "3*(4+5)");
  EXPECT_EQ(parse_countdown("(3*4)+5", &err)->canonical_text(), "3*4+5");
  EXPECT_EQ(parse_countdown("8-(2-1)", &err)->value(), 7);
  EXPECT_EQ(parse_countdown("8-2-1", &err)->value(), 5);
  EXPECT_EQ(parse_countdown("2*(3*4)", &err)->canonical_text(), "2*(3*4)");
  EXPECT_FALSE(parse_countdown("3+", &err));
  EXPECT_FALSE(err.empty());
  EXPECT_FALSE(parse_countdown("3 + 4", &err));
  EXPECT_FALSE(parse_countdown("(3", &err));
  EXPECT_FALSE(parse_countdown("3/4", &err));
}

TEST(Countdown, CanonicalKeysMergeCommutativeRewrites) {
  std::string err;
  auto key = [&](const std::string& s) { return parse_countdown(s, &err)->solution_key(); };
  EXPECT_EQ(key("3+4"), key("4+3"));
  EXPECT_EQ(key("3*4+5"), key("5+4*3"));
  EXPECT_EQ(key("2*(3*4)"), key("4*3*2"));
  EXPECT_EQ(key("3+(4+5)"), key("5+3+4"));
  EXPECT_EQ(key("8-(2-1)"), key("8+1-2"));
  EXPECT_NE(key("8-2-1"), key("8-(2-1)"));
  EXPECT_NE(key("3*(4+5)"), key("3*4+5"));
  EXPECT_NE(key("3*(4+5)"), key("3*4+3*5"));  // distributivity is a different solution
}

TEST(Countdown, EnumerationIsExactlyTheRewardOneSet) {
  CountdownTask task(options_for("countdown"));
  // Exhaustive over every string of the canonical grammar for two numbers, plus the
  // enumerations of three numbers against a brute-force recount.
  Record r = countdown_record("3 5", 8);
  auto sols = *task.enumerate_solutions(r);
  EXPECT_EQ(sols, (std::vector<std::string>{"3+5\n", "5+3\n"}));
  Record r2 = countdown_record("2 3 4", 10);
  auto sols2 = *task.enumerate_solutions(r2);
  std::set<std::string> set2(sols2.begin(), sols2.end());
  EXPECT_EQ(set2.size(), sols2.size());
  EXPECT_FALSE(set2.count("2+3+4\n"));  // 9
  EXPECT_TRUE(set2.count("3*2+4\n"));
  EXPECT_TRUE(set2.count("2*3+4\n"));
  EXPECT_TRUE(set2.count("4+2*3\n"));
  EXPECT_TRUE(set2.count("2*(3+4)-4\n") == 0);  // 4 used twice is not enumerated
  for (const auto& s : sols2) {
    auto res = task.reward(r2, s);
    EXPECT_EQ(res.reward, 1.0) << s << " " << to_string(res.reason) << " " << res.detail;
    EXPECT_EQ(res.reason, Reason::Correct);
  }
  // Every string up to length 7 over the alphabet, checked against the set.
  const std::string alphabet = "234+-*()";
  std::vector<std::string> frontier = {""};
  size_t accepted = 0;
  for (int len = 1; len <= 7; ++len) {
    std::vector<std::string> next;
    for (const auto& p : frontier)
      for (char c : alphabet) next.push_back(p + c);
    for (const auto& s : next) {
      auto res = task.reward(r2, s + "\n");
      EXPECT_EQ(res.reward == 1.0, set2.count(s + "\n") == 1) << s;
      if (res.reward == 1.0) ++accepted;
    }
    frontier = std::move(next);
  }
  size_t short_solutions = 0;
  for (const auto& s : sols2) short_solutions += s.size() <= 8;
  EXPECT_EQ(accepted, short_solutions);
  EXPECT_GT(accepted, 5u);
}

TEST(Countdown, DatasetSolutionsVerifyAndWrongStringsDoNot) {
  TaskOptions o = options_for("countdown");
  CountdownTask task(o);
  Dataset ds = task.make_dataset();
  ASSERT_EQ(ds.size(), 40u);
  std::set<size_t> sizes;
  for (const auto& rec : ds.records()) {
    std::string prompt = task.render_prompt(rec);
    EXPECT_LT(prompt.size(), 80u) << prompt;
    auto sols = *task.enumerate_solutions(rec);
    ASSERT_GE(sols.size(), 1u);
    ASSERT_LE(sols.size(), 32u);
    sizes.insert(sols.size());
    std::set<std::string> set(sols.begin(), sols.end());
    for (const auto& s : sols) {
      EXPECT_LT(s.size(), 40u);
      ASSERT_EQ(task.reward(rec, s).reward, 1.0) << rec.id << " " << s;
      // Without the terminator it is not complete.
      EXPECT_EQ(task.reward(rec, s.substr(0, s.size() - 1)).reason, Reason::Unterminated);
      EXPECT_EQ(task.reward(rec, s + "\n").reward, 0.0);
    }
    for (const auto& w : random_strings("0123456789+-*()", 200, std::hash<std::string>()(rec.id)))
      EXPECT_EQ(task.reward(rec, w).reward == 1.0, set.count(w) == 1) << w;
  }
  EXPECT_GT(sizes.size(), 3u) << "solution-set sizes should vary";
}

TEST(Countdown, RulesAndReasons) {
  CountdownTask task(options_for("countdown"));
  Record r = countdown_record("3 5 7", 15);
  EXPECT_EQ(task.reward(r, "3*5\n").reason, Reason::Correct);
  EXPECT_EQ(task.reward(r, "5*3\n").reason, Reason::Correct);
  EXPECT_EQ(task.reward(r, "3*5\n").canonical_key, task.reward(r, "5*3\n").canonical_key);
  EXPECT_EQ(task.reward(r, "5*3*1\n").reason, Reason::RuleViolation);
  EXPECT_EQ(task.reward(r, "5+5+5\n").reason, Reason::RuleViolation);
  EXPECT_EQ(task.reward(r, "(3*5)\n").reason, Reason::Unparsable);
  EXPECT_EQ(task.reward(r, "3 * 5\n").reason, Reason::Unparsable);
  EXPECT_EQ(task.reward(r, "3+5\n").reason, Reason::WrongAnswer);
  EXPECT_EQ(task.reward(r, "03*5\n").reason, Reason::Unparsable);
  EXPECT_EQ(task.reward(r, "").reason, Reason::Empty);
  EXPECT_EQ(task.reward(r, std::string("3*5\0\n", 5)).reason, Reason::Binary);
  EXPECT_EQ(task.reward(r, std::string(20000, '1')).reason, Reason::TooLong);
  EXPECT_EQ(task.reward(r, std::string(30, '(') + "3" + std::string(30, ')') + "\n").reason, Reason::Unparsable);
  EXPECT_EQ(task.reward(r, std::string(200, '(') + "\n").reason, Reason::Unparsable);
}

TEST(Countdown, DeterministicAndDisjointSplits) {
  CountdownTask train_a(options_for("countdown", "train", 60));
  CountdownTask train_b(options_for("countdown", "train", 60));
  Dataset a = train_a.make_dataset(), b = train_b.make_dataset();
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  std::set<std::string> train_prompts;
  for (const auto& r : a.records()) train_prompts.insert(r.fields.dump());
  // A different seed for the test split still never produces a training prompt.
  for (uint64_t seed : {7u, 8u, 9u}) {
    TaskOptions o = options_for("countdown", "test", 60);
    o.seed = seed;
    const Dataset test_set = CountdownTask(o).make_dataset();
    for (const auto& r : test_set.records()) {
      EXPECT_EQ(train_prompts.count(r.fields.dump()), 0u);
    }
  }
  TaskOptions o8 = options_for("countdown", "train", 60);
  o8.seed = 8;
  EXPECT_NE(CountdownTask(o8).make_dataset().fingerprint(), a.fingerprint());
}

TEST(Countdown, KnobsAreHonouredOrReported) {
  TaskOptions o = options_for("countdown", "train", 10);
  o.countdown_operands = 4;
  o.min_solutions = 10;
  o.max_solutions = 40;
  CountdownTask task(o);
  const Dataset ds = task.make_dataset();
  for (const auto& rec : ds.records()) {
    auto n = task.enumerate_solutions(rec)->size();
    EXPECT_GE(n, 10u);
    EXPECT_LE(n, 40u);
  }
  o.countdown_operands = 2;
  o.min_solutions = 30;
  o.max_solutions = 40;
  EXPECT_THROW(CountdownTask(o).make_dataset(), disa::core::ConfigError);
  o.countdown_operands = 9;
  EXPECT_THROW(CountdownTask{o}, disa::core::ConfigError);
}

TEST(GraphPaths, EnumerationIsExactlyTheRewardOneSet) {
  TaskOptions o = options_for("graph_paths");
  GraphPathsTask task(o);
  Dataset ds = task.make_dataset();
  ASSERT_EQ(ds.size(), 40u);
  std::set<size_t> sizes;
  for (const auto& rec : ds.records()) {
    std::string prompt = task.render_prompt(rec);
    EXPECT_LT(prompt.size(), 80u) << prompt;
    auto sols = *task.enumerate_solutions(rec);
    ASSERT_GE(sols.size(), 1u);
    ASSERT_LE(sols.size(), 32u);
    sizes.insert(sols.size());
    std::set<std::string> set(sols.begin(), sols.end());
    std::set<std::string> keys;
    for (const auto& s : sols) {
      auto res = task.reward(rec, s);
      ASSERT_EQ(res.reward, 1.0) << rec.id << " " << s << res.detail;
      keys.insert(res.canonical_key);
      EXPECT_LT(s.size(), 40u);
    }
    EXPECT_EQ(keys.size(), sols.size()) << "each path is a distinct solution";
    // Exhaustive: every sequence of up to 4 nodes (letters separated by spaces).
    const int n = 6;
    std::vector<std::string> frontier = {""};
    for (int len = 1; len <= 4; ++len) {
      std::vector<std::string> next;
      for (const auto& p : frontier)
        for (int c = 0; c < n; ++c) next.push_back(p + (p.empty() ? "" : " ") + char('A' + c));
      for (const auto& s : next) EXPECT_EQ(task.reward(rec, s + "\n").reward == 1.0, set.count(s + "\n") == 1) << s;
      frontier = std::move(next);
    }
    for (const auto& w : random_strings("ABCDEF  ", 200, std::hash<std::string>()(rec.id)))
      EXPECT_EQ(task.reward(rec, w).reward == 1.0, set.count(w) == 1) << w;
  }
  EXPECT_GT(sizes.size(), 3u);
}

TEST(GraphPaths, RulesAndReasons) {
  GraphPathsTask task(options_for("graph_paths"));
  Record r;
  r.id = "g";
  r.fields = {{"edges", "AB AC BC CD"}, {"source", "A"}, {"target", "D"}};
  auto sols = *task.enumerate_solutions(r);
  EXPECT_EQ(sols, (std::vector<std::string>{"A B C D\n", "A C D\n"}));
  EXPECT_EQ(task.render_prompt(r), "graph AB AC BC CD path A to D\n");
  EXPECT_EQ(task.reward(r, "A C D\n").reason, Reason::Correct);
  EXPECT_EQ(task.reward(r, "A C D").reason, Reason::Unterminated);
  EXPECT_EQ(task.reward(r, "A D\n").reason, Reason::RuleViolation);
  EXPECT_EQ(task.reward(r, "A B A C D\n").reason, Reason::RuleViolation);
  EXPECT_EQ(task.reward(r, "A B C\n").reason, Reason::WrongAnswer);
  EXPECT_EQ(task.reward(r, "ACD\n").reason, Reason::Unparsable);
  EXPECT_EQ(task.reward(r, "A  C D\n").reason, Reason::Unparsable);
  EXPECT_EQ(task.reward(r, "A C D \n").reason, Reason::Unparsable);
  EXPECT_EQ(task.reward(r, "A C Z\n").reason, Reason::Unparsable);
  EXPECT_EQ(task.reward(r, "\n").reason, Reason::Empty);
  Record bad = r;
  bad.fields["edges"] = "AB A";
  EXPECT_THROW(task.reward(bad, "A B\n"), disa::core::DataError);
}

TEST(GraphPaths, DeterministicAndDisjointSplits) {
  Dataset a = GraphPathsTask(options_for("graph_paths", "train", 50)).make_dataset();
  Dataset b = GraphPathsTask(options_for("graph_paths", "train", 50)).make_dataset();
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  std::set<std::string> train;
  for (const auto& r : a.records()) train.insert(r.fields.dump());
  for (uint64_t seed : {7u, 11u}) {
    TaskOptions o = options_for("graph_paths", "test", 50);
    o.seed = seed;
    const Dataset test_set = GraphPathsTask(o).make_dataset();
    for (const auto& r : test_set.records()) EXPECT_EQ(train.count(r.fields.dump()), 0u);
  }
}

TEST(Registry, MakesTasksByName) {
  for (const auto& name : task_names()) {
    TaskOptions o;
    o.name = name;
    EXPECT_EQ(make_task(o)->name(), name);
  }
  TaskOptions o;
  o.name = "chess";
  try {
    make_task(o);
    FAIL();
  } catch (const disa::core::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("task.name"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("chess"), std::string::npos);
  }
  o.name = "math";
  EXPECT_FALSE(make_task(o)->enumerate_solutions(Record{}));
}
