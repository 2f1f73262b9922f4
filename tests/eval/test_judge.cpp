// Unit tests of the LLM judge's answer parser (hand-written answers, well formed and
// malformed) and of its prompt template (placeholders, bad templates, the shipped one).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "disa/core/error.hpp"
#include "disa/eval/judge.hpp"

namespace {

using disa::eval::JudgeTemplate;
using disa::eval::parse_judge_answer;

TEST(JudgeParser, WellFormedAnswers) {
  EXPECT_EQ(parse_judge_answer("3", 5), 3);
  EXPECT_EQ(parse_judge_answer(" 2\n", 5), 2);
  EXPECT_EQ(parse_judge_answer("Answer: 4", 5), 4);
  EXPECT_EQ(parse_judge_answer("**2**", 5), 2);
  EXPECT_EQ(parse_judge_answer("There are two distinct strategies.", 5), 2);
  EXPECT_EQ(parse_judge_answer("Three.", 5), 3);
}

TEST(JudgeParser, PrefersTheNumberAfterTheLastAnswerMarker) {
  EXPECT_EQ(parse_judge_answer("Responses 1 and 3 share an idea; response 2 differs. Answer: 2", 3), 2);
  EXPECT_EQ(parse_judge_answer("answer is 1? No. Final answer: 3", 4), 3);
  // A marker followed by nothing usable falls back to the first integer in range.
  EXPECT_EQ(parse_judge_answer("I count 2 ideas. Answer: many", 4), 2);
}

TEST(JudgeParser, SkipsNumbersOutOfRangeOrNotIntegers) {
  EXPECT_EQ(parse_judge_answer("0 ... actually 2", 4), 2);
  EXPECT_EQ(parse_judge_answer("17 strategies, no: 3", 4), 3);
  EXPECT_EQ(parse_judge_answer("-2 or 3", 4), 3);
  EXPECT_EQ(parse_judge_answer("2.5 rounds to 3", 4), 3);
  EXPECT_EQ(parse_judge_answer("the 2nd and 3rd are alike: 2", 4), 2);
  EXPECT_EQ(parse_judge_answer("99999999999999999999999999 2", 4), 2);
}

TEST(JudgeParser, MalformedAnswersAreUnparsable) {
  EXPECT_FALSE(parse_judge_answer("", 4));
  EXPECT_FALSE(parse_judge_answer("   \n\t", 4));
  EXPECT_FALSE(parse_judge_answer("I cannot tell.", 4));
  EXPECT_FALSE(parse_judge_answer("0", 4));
  EXPECT_FALSE(parse_judge_answer("7", 4));
  EXPECT_FALSE(parse_judge_answer("-1", 4));
  EXPECT_FALSE(parse_judge_answer("3.7", 4));
  EXPECT_FALSE(parse_judge_answer("x2 y3 4z", 4));
  EXPECT_FALSE(parse_judge_answer("\xff\xfe garbage \x01\x02", 4));
  EXPECT_FALSE(parse_judge_answer("twentyone", 30));
  EXPECT_FALSE(parse_judge_answer("2", 0));
  std::string huge(100000, '9');
  EXPECT_FALSE(parse_judge_answer(huge, 4));
}

TEST(JudgeTemplate, RendersNumberedResponses) {
  JudgeTemplate t("P: {problem}\n{responses}n={count} {{literal}}", "test");
  EXPECT_EQ(t.render("make 10", {"2*5\n", "5+5\n"}),
            "P: make 10\nResponse 1:\n2*5\n\n\nResponse 2:\n5+5\n\nn=2 {literal}");
}

TEST(JudgeTemplate, BadTemplatesAreConfigErrors) {
  EXPECT_THROW(JudgeTemplate("no placeholder", "t"), disa::core::ConfigError);
  EXPECT_THROW(JudgeTemplate("{responses} {unknown}", "t"), disa::core::ConfigError);
  EXPECT_THROW(JudgeTemplate("{responses} {unclosed", "t"), disa::core::ConfigError);
  try {
    JudgeTemplate::load("/nonexistent/judge.txt", "judge.prompt");
    FAIL() << "expected an error";
  } catch (const disa::core::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--judge.prompt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/nonexistent/judge.txt"), std::string::npos) << e.what();
  }
  const std::string bad = std::string(DISA_BINARY_DIR) + "/tests/eval/bad_judge_template.txt";
  std::filesystem::create_directories(std::filesystem::path(bad).parent_path());
  std::ofstream(bad) << "Problem {problem} {answers}\n";
  try {
    JudgeTemplate::load(bad, "judge.prompt");
    FAIL() << "expected an error";
  } catch (const disa::core::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
}

TEST(JudgeTemplate, ShippedTemplateLoads) {
  auto t = JudgeTemplate::load(std::string(DISA_SOURCE_DIR) + "/configs/eval-judge-prompt.txt", "judge.prompt");
  const std::string text = t.render("graph AB BC path A to C", {"A B C\n", "A C\n"});
  EXPECT_NE(text.find("graph AB BC path A to C"), std::string::npos);
  EXPECT_NE(text.find("Response 2:\nA C"), std::string::npos);
  EXPECT_NE(text.find("between 1 and 2"), std::string::npos);
}

}  // namespace
