// The code task on the fixture problems: reference solutions pass, wrong ones fail with
// the right reason, binary and fraction rewards, program extraction and canonical keys.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "disa/tasks/code_task.hpp"

using namespace disa::tasks;

namespace {

TaskOptions code_options(const std::string& reward = "binary") {
  TaskOptions o;
  o.name = "code";
  o.data_path = std::string(DISA_SOURCE_DIR) + "/tests/fixtures/code.jsonl";
  o.code_reward = reward;
  o.sandbox.cpu_seconds = 1.0;
  o.sandbox.wall_seconds = 3.0;
  o.sandbox.memory_mb = 256;
  o.sandbox_concurrency = 2;
  return o;
}

std::string fenced(const std::string& program) { return "```python\n" + program + "```\n"; }

}  // namespace

TEST(CodeExtraction, LastPythonBlock) {
  EXPECT_EQ(*extract_python_block("a\n```python\nx = 1\n```\nb\n```python\nx = 2\n```"), "x = 2\n");
  EXPECT_EQ(*extract_python_block("```py\nx = 3\n```"), "x = 3\n");
  EXPECT_EQ(*extract_python_block("```\nx = 4\n```"), "x = 4\n");
  EXPECT_EQ(*extract_python_block("```python\nx = 5\n```\n```\nplain\n```"), "x = 5\n");
  EXPECT_FALSE(extract_python_block("```bash\nls\n```"));
  EXPECT_FALSE(extract_python_block("```python\nx = 1\n"));  // unclosed
  EXPECT_FALSE(extract_python_block("no code at all"));
}

TEST(CodeTask, ReferenceSolutionsPass) {
  CodeTask task(code_options());
  Dataset ds = task.make_dataset();
  ASSERT_EQ(ds.size(), 15u);
  std::ifstream in(std::string(DISA_TEST_DATA_DIR) + "/tasks/code_solutions.jsonl");
  std::vector<const Record*> records;
  std::vector<std::string> responses;
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    records.push_back(&ds.by_id(j["id"]));
    responses.push_back(j["response"]);
  }
  ASSERT_EQ(records.size(), 15u);
  auto results = task.reward_batch(records, responses);
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].reward, 1.0) << records[i]->id << ": " << results[i].detail;
    EXPECT_EQ(results[i].reason, Reason::Correct);
    EXPECT_FALSE(results[i].canonical_key.empty());
  }
}

TEST(CodeTask, WrongProgramsAndReasons) {
  CodeTask binary(code_options("binary"));
  CodeTask fraction(code_options("fraction"));
  Dataset ds = binary.make_dataset();
  const Record& add = ds.by_id("c01");       // three asserts
  const Record& triangle = ds.by_id("c03");  // stdin/stdout
  // Right on two of three asserts.
  const std::string half = fenced("def add(a, b):\n    return a + b if abs(a) < 10**6 else 0\n");
  auto b = binary.reward(add, half);
  EXPECT_EQ(b.reward, 0.0);
  EXPECT_EQ(b.reason, Reason::TestFailed) << b.detail;
  auto f = fraction.reward(add, half);
  EXPECT_EQ(f.reward, 2.0 / 3.0);  // passed / total: the same division, bitwise
  EXPECT_EQ(f.reason, Reason::Partial);
  auto wrong_io = binary.reward(triangle, fenced("n = int(input())\nprint(n * n)\n"));
  EXPECT_EQ(wrong_io.reason, Reason::TestFailed);
  EXPECT_NE(wrong_io.detail.find("expected"), std::string::npos) << wrong_io.detail;
  // Output compared without trailing whitespace.
  EXPECT_EQ(binary.reward(triangle, fenced("n = int(input())\nprint(n * (n + 1) // 2, '  ')\n")).reward, 1.0);
  EXPECT_EQ(binary.reward(add, "def add(a, b): return a + b").reason, Reason::NoAnswer);
  auto loop = binary.reward(add, fenced("def add(a, b):\n    while True:\n        pass\n"));
  EXPECT_EQ(loop.reason, Reason::Timeout) << loop.detail;
  auto mem = binary.reward(add, fenced("x = bytearray(10 * 1024 ** 3)\n"));
  EXPECT_EQ(mem.reason, Reason::Memory) << mem.detail;
  auto crash = binary.reward(add, fenced("raise RuntimeError('no')\n"));
  EXPECT_EQ(crash.reason, Reason::Crash) << crash.detail;
  EXPECT_EQ(binary.reward(add, "").reason, Reason::Empty);
}

TEST(CodeTask, CanonicalKeyIgnoresCommentsAndBlankLines) {
  CodeTask task(code_options());
  Dataset ds = task.make_dataset();
  const Record& add = ds.by_id("c01");
  auto a = task.reward(add, fenced("def add(a, b):\n    return a + b\n"));
  auto b = task.reward(add, "Sure!\n" + fenced("# adds\ndef add(a, b):   \n\n    return a + b  # sum\n"));
  auto c = task.reward(add, fenced("def add(a, b):\n    return b + a\n"));
  EXPECT_EQ(a.reward, 1.0);
  EXPECT_EQ(c.reward, 1.0);
  EXPECT_NE(a.canonical_key, c.canonical_key);
  // Whole-line comments and blank lines are dropped; inline comments are kept.
  EXPECT_EQ(b.canonical_key, "def add(a, b):\n    return a + b  # sum\n");
}
