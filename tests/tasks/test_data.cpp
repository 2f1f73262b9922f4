// Data sets and bad input: malformed JSON names file and line, a missing field names the
// field, empty data sets and duplicate ids are errors; empty, enormous and binary
// responses get reward 0 with a reason; templates and options.
#include <gtest/gtest.h>

#include "disa/core/config.hpp"
#include "disa/core/error.hpp"
#include "disa/tasks/code_task.hpp"
#include "disa/tasks/dataset.hpp"
#include "disa/tasks/math_task.hpp"
#include "disa/tasks/registry.hpp"
#include "disa/tasks/reward.hpp"

using namespace disa::tasks;

namespace {

std::string data(const std::string& name) { return std::string(DISA_TEST_DATA_DIR) + "/tasks/" + name; }

JsonlFieldMap math_map() {
  JsonlFieldMap m;
  m.required = {{"problem", "problem"}, {"answer", "answer"}};
  return m;
}

template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Jsonl, MalformedLineNamesFileAndLine) {
  auto msg = error_of<disa::core::DataError>([] { load_jsonl(data("bad_json.jsonl"), math_map()); });
  EXPECT_NE(msg.find("bad_json.jsonl:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("malformed JSON"), std::string::npos) << msg;
}

TEST(Jsonl, MissingFieldNamesTheField) {
  auto msg = error_of<disa::core::DataError>([] { load_jsonl(data("missing_field.jsonl"), math_map()); });
  EXPECT_NE(msg.find("missing_field.jsonl:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'answer'"), std::string::npos) << msg;
}

TEST(Jsonl, EmptyDuplicateAndNonObject) {
  auto empty = error_of<disa::core::DataError>([] { load_jsonl(data("empty.jsonl"), math_map()); });
  EXPECT_NE(empty.find("empty data set"), std::string::npos) << empty;
  auto dup = error_of<disa::core::DataError>([] { load_jsonl(data("duplicate_id.jsonl"), math_map()); });
  EXPECT_NE(dup.find("duplicate_id.jsonl:2"), std::string::npos) << dup;
  auto arr = error_of<disa::core::DataError>([] { load_jsonl(data("not_object.jsonl"), math_map()); });
  EXPECT_NE(arr.find("not_object.jsonl:1"), std::string::npos) << arr;
  auto missing = error_of<disa::core::IoError>([] { load_jsonl(data("no_such_file.jsonl"), math_map()); });
  EXPECT_NE(missing.find("no_such_file.jsonl"), std::string::npos) << missing;
}

TEST(Jsonl, CodeTestsAreValidated) {
  TaskOptions o;
  o.name = "code";
  o.data_path = data("bad_code_tests.jsonl");
  auto msg = error_of<disa::core::DataError>([&] { CodeTask(o).make_dataset(); });
  EXPECT_NE(msg.find("'q1'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("element 1"), std::string::npos) << msg;
  o.data_path = "";
  auto cfg = error_of<disa::core::ConfigError>([&] { CodeTask(o).make_dataset(); });
  EXPECT_NE(cfg.find("--task.data"), std::string::npos) << cfg;
}

TEST(Screening, EmptyEnormousAndBinaryResponses) {
  ResponseLimits limits;
  limits.max_chars = 100;
  EXPECT_EQ(screen_response("", limits)->reason, Reason::Empty);
  EXPECT_EQ(screen_response(" \n\t", limits)->reason, Reason::Empty);
  EXPECT_EQ(screen_response(std::string(101, 'a'), limits)->reason, Reason::TooLong);
  EXPECT_EQ(screen_response(std::string("a\0b", 3), limits)->reason, Reason::Binary);
  EXPECT_EQ(screen_response("a\x01", limits)->reason, Reason::Binary);
  EXPECT_EQ(screen_response("caf\xC3", limits)->reason, Reason::Binary);
  EXPECT_EQ(screen_response("\xC0\xAF", limits)->reason, Reason::Binary);  // overlong
  EXPECT_FALSE(screen_response("caf\xC3\xA9 \xE2\x88\x9A 2\n", limits));
  EXPECT_EQ(screen_response("", limits)->reward, 0.0);
  // Every task applies it.
  for (const auto& name : task_names()) {
    TaskOptions o;
    o.name = name;
    o.response_limits.max_chars = 50;
    auto task = make_task(o);
    Record r;
    r.id = "x";
    r.fields = {{"numbers", "1 2"}, {"target", "3"},  {"edges", "AB"}, {"source", "A"},           {"target", "B"},
                {"answer", "3"},    {"problem", "p"}, {"prompt", "p"}, {"tests", {"assert True"}}};
    if (name == "graph_paths") r.fields["target"] = "B";
    EXPECT_EQ(task->reward(r, "").reason, Reason::Empty) << name;
    EXPECT_EQ(task->reward(r, std::string(51, 'x')).reason, Reason::TooLong) << name;
    EXPECT_EQ(task->reward(r, std::string("\xFF\xFE", 2)).reason, Reason::Binary) << name;
  }
}

TEST(Reasons, NamesRoundTrip) {
  std::size_t n = 0;
  const Reason* all = all_reasons(&n);
  EXPECT_EQ(n, 15u);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(*reason_from_string(to_string(all[i])), all[i]);
  EXPECT_FALSE(reason_from_string("nope"));
}

TEST(Template, FieldsBracesAndErrors) {
  Record r;
  r.id = "r1";
  r.fields = {{"a", "x"}, {"n", 3}};
  EXPECT_EQ(render_template("{a}={n}\\n{{lit}}", r), "x=3\n{lit}");
  auto msg = error_of<disa::core::DataError>([&] { render_template("{missing}", r); });
  EXPECT_NE(msg.find("'missing'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("r1"), std::string::npos) << msg;
  EXPECT_THROW(render_template("{a", r), disa::core::ConfigError);
}

TEST(Options, RoundTripAndBadValues) {
  disa::core::Options opts("test", "test");
  add_task_options(opts);
  auto parsed = disa::core::parse_options(opts, {"test", "--task.name", "graph_paths", "--task.graph-nodes", "7",
                                                 "--sandbox.memory-mb", "256", "--task.math-strict-brackets=false"});
  TaskOptions t = task_options_from_config(parsed.config);
  EXPECT_EQ(t.name, "graph_paths");
  EXPECT_EQ(t.graph_nodes, 7);
  EXPECT_EQ(t.sandbox.memory_mb, 256);
  EXPECT_FALSE(t.math_strict_brackets);
  auto bad = disa::core::parse_options(opts, {"test", "--task.split", "validation"});
  auto msg = error_of<disa::core::ConfigError>([&] { task_options_from_config(bad.config); });
  EXPECT_NE(msg.find("task.split"), std::string::npos) << msg;
}

TEST(Rng, DeterministicAndInRange) {
  Rng a(42), b(42);
  for (int i = 0; i < 1000; ++i) {
    int64_t x = a.uniform_int(-3, 5);
    EXPECT_EQ(x, b.uniform_int(-3, 5));
    EXPECT_GE(x, -3);
    EXPECT_LE(x, 5);
  }
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
}
