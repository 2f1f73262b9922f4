// The LLM judge with a real (tiny, random) judge model from the fixture: prompts with no
// correct or a single distinct correct response are not sent; the others are, and
// whatever the model answers is recorded and either parsed into a count in range or
// counted as unparsable (a random model mostly writes garbage); responses too long for
// the judge's context are reported, not fatal; verdicts do not depend on the batch.
#include <gtest/gtest.h>

#include <cmath>

#include "disa/eval/judge.hpp"

namespace {

using namespace disa::eval;

JudgeSettings settings() {
  JudgeSettings s;
  s.model_dir = std::string(DISA_EVAL_FIXTURE) + "/reference";
  s.template_path = std::string(DISA_SOURCE_DIR) + "/configs/eval-judge-prompt.txt";
  s.max_new_tokens = 6;
  s.max_batch_size = 2;
  return s;
}

void expect_consistent(const JudgeVerdict& v) {
  if (v.status == JudgeStatus::Parsed) {
    EXPECT_GE(v.strategies, 1);
    EXPECT_LE(v.strategies, double(v.shown));
    EXPECT_EQ(parse_judge_answer(v.answer, v.shown), int64_t(v.strategies));
  } else {
    EXPECT_EQ(v.status, JudgeStatus::Unparsable) << judge_status_name(v.status);
    EXPECT_TRUE(std::isnan(v.strategies));
    EXPECT_FALSE(parse_judge_answer(v.answer, v.shown).has_value());
  }
}

TEST(JudgeModel, StatusesAndRobustParsing) {
  Judge judge(settings(), torch::kCPU, torch::kFloat32);
  EXPECT_FALSE(judge.model_fingerprint().empty());
  const std::string huge(3000, 'x');
  std::vector<JudgeCase> cases{
      {0, "graph AB BC path A to C", {}},
      {1, "graph AB BC path A to C", {"A B C\n", "A B C\n"}},
      {2, "graph AB AC BC path A to C", {"A C\n", "A B C\n", "A C\n"}},
      {3, "make 6 from 1 2 3", {"1+2+3\n", "1*2*3\n", "3*2\n", "2*3\n"}},
      {4, "long", {huge + "1", huge + "2"}},
  };
  auto v = judge.judge(cases);
  ASSERT_EQ(v.size(), cases.size());
  EXPECT_EQ(v[0].status, JudgeStatus::NoCorrect);
  EXPECT_TRUE(std::isnan(v[0].strategies));
  EXPECT_EQ(v[1].status, JudgeStatus::Single);
  EXPECT_EQ(v[1].strategies, 1.0);
  EXPECT_EQ(v[1].distinct, 1);
  EXPECT_TRUE(v[1].answer.empty());
  EXPECT_EQ(v[2].distinct, 2);
  EXPECT_EQ(v[2].shown, 2);
  expect_consistent(v[2]);
  EXPECT_EQ(v[3].shown, 4);
  expect_consistent(v[3]);
  EXPECT_EQ(v[4].status, JudgeStatus::TooLong);
  // The same case alone gives the same verdict (batch independence, greedy judge).
  auto alone = judge.judge({cases[3]});
  EXPECT_EQ(alone[0].answer, v[3].answer);
  EXPECT_EQ(alone[0].status, v[3].status);
}

TEST(JudgeModel, ShownResponsesAreCapped) {
  JudgeSettings s = settings();
  s.max_responses = 3;
  s.temperature = 1.0;  // sampled answers are parsed the same way
  Judge judge(s, torch::kCPU, torch::kFloat32);
  auto v = judge.judge({{7, "p", {"a\n", "b\n", "c\n", "d\n", "e\n"}}});
  EXPECT_EQ(v[0].distinct, 5);
  EXPECT_EQ(v[0].shown, 3);
  expect_consistent(v[0]);
}

}  // namespace
