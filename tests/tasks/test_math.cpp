// Math verifier: the table of equivalence cases in tests/data/tasks/math_equivalence.tsv
// (positives and negatives with the classic traps; expressions with free variables),
// answer extraction, normalisation, the evaluator (with and without variables), and the
// math task on the fixture problems and responses.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "disa/tasks/math_answer.hpp"
#include "disa/tasks/math_expression.hpp"
#include "disa/tasks/math_task.hpp"

using namespace disa::tasks;

namespace {

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == '\t') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

}  // namespace

TEST(MathEquivalence, Table) {
  const std::string path = std::string(DISA_TEST_DATA_DIR) + "/tasks/math_equivalence.tsv";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path;
  std::string line;
  int line_no = 0, cases = 0, positives = 0, negatives = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    auto f = split_tabs(line);
    ASSERT_GE(f.size(), 3u) << path << ":" << line_no;
    MathCompareOptions o;
    if (f.size() > 3 && f[3] == "loose") o.strict_brackets = false;
    const bool expected = f[2] == "1";
    MathComparison cmp;
    EXPECT_NO_THROW(cmp = compare_answers(f[0], f[1], o)) << path << ":" << line_no;
    EXPECT_EQ(cmp.equal, expected) << path << ":" << line_no << ": '" << f[0] << "' vs '" << f[1] << "' (normalised '"
                                   << normalize_answer(f[0]) << "' vs '" << normalize_answer(f[1])
                                   << "'): " << to_string(cmp.reason) << " " << cmp.detail;
    EXPECT_EQ(cmp.reason == Reason::Correct, cmp.equal) << path << ":" << line_no;
    // Symmetry of the verdict.
    EXPECT_EQ(compare_answers(f[1], f[0], o).equal || f[0].empty(), expected || f[0].empty())
        << path << ":" << line_no << " (swapped)";
    ++cases;
    (expected ? positives : negatives)++;
  }
  EXPECT_GE(cases, 150);
  EXPECT_GE(positives, 50);
  EXPECT_GE(negatives, 30);
}

TEST(MathEquivalence, KeysAgreeForEquivalentAnswers) {
  MathCompareOptions o;
  EXPECT_EQ(compare_answers("0.5", "1", o).candidate_key, compare_answers("\\frac12", "1", o).candidate_key);
  EXPECT_EQ(compare_answers("1,000", "1", o).candidate_key, compare_answers("1000", "1", o).candidate_key);
  EXPECT_NE(compare_answers("3", "1", o).candidate_key, compare_answers("3.0001", "1", o).candidate_key);
}

TEST(MathEquivalence, ToleranceIsConfigurable) {
  MathCompareOptions o;
  // |3.0001 - 3| / 3.0001 = 3.3e-5 lies between the two settings, far from both.
  o.relative_tolerance = 1e-3;
  EXPECT_TRUE(compare_answers("3.0001", "3", o).equal);
  o.relative_tolerance = 1e-6;
  EXPECT_FALSE(compare_answers("3.0001", "3", o).equal);
}

TEST(MathEquivalence, VariablesComparedAtPoints) {
  MathCompareOptions o;
  auto cmp = compare_answers("\\frac{x^2-1}{x-1}", "x+1", o);
  EXPECT_TRUE(cmp.equal) << cmp.detail;
  // Deterministic: the same pair, the same verdict and detail.
  for (int i = 0; i < 3; ++i) {
    auto a = compare_answers("x^2+1", "x^2+1.001", o);
    auto b = compare_answers("x^2+1", "x^2+1.001", o);
    EXPECT_FALSE(a.equal);
    EXPECT_EQ(a.detail, b.detail);
  }
  cmp = compare_answers("x", "y", o);
  EXPECT_FALSE(cmp.equal);
  EXPECT_EQ(cmp.reason, Reason::WrongAnswer);
  EXPECT_NE(cmp.detail.find("variables {x} vs {y}"), std::string::npos) << cmp.detail;
  cmp = compare_answers("\\sqrt{-1-x^2}", "\\sqrt{-x^2-1}", o);
  EXPECT_FALSE(cmp.equal);
  EXPECT_NE(cmp.detail.find("defined at 0 of 8 points"), std::string::npos) << cmp.detail;
  // The numeric tolerance applies at every point.
  EXPECT_FALSE(compare_answers("x", "1.0001x", o).equal);
  o.relative_tolerance = 1e-3;
  EXPECT_TRUE(compare_answers("x", "1.0001x", o).equal);
  EXPECT_TRUE(compare_answers("3", "3.0001", o).equal);
  // A number where the reference is an expression, and the reverse, stay unequal.
  EXPECT_EQ(compare_answers("x", "3", o).reason, Reason::Unparsable);
  EXPECT_EQ(compare_answers("3", "x", o).reason, Reason::WrongAnswer);
  // Long answers finish (the evaluator is linear in the answer's length).
  std::string sum = "x";
  while (sum.size() < 16000) sum += "+x-x";
  EXPECT_TRUE(compare_answers(sum, "x", o).equal);
}

TEST(MathExtraction, BoxedAnswerLineAndHashes) {
  EXPECT_EQ(*extract_answer("so \\boxed{\\frac{1}{2}} and then \\boxed{3}"), "3");
  EXPECT_EQ(*extract_answer("\\boxed{\\frac{a}{\\sqrt{b^{2}}}}"), "\\frac{a}{\\sqrt{b^{2}}}");
  EXPECT_EQ(*extract_answer("\\boxed {7}"), "7");
  EXPECT_EQ(*extract_answer("\\fbox{8}"), "8");
  EXPECT_EQ(*extract_answer("work\nAnswer: 12 apples\nmore"), "12 apples");
  EXPECT_EQ(*extract_answer("Final answer: 5"), "5");
  EXPECT_EQ(*extract_answer("blah\n#### 1,234\n"), "1,234");
  EXPECT_EQ(*extract_answer("Answer: 3\n#### 4"), "3");
  EXPECT_EQ(*extract_answer("#### 4\n\\boxed{5}"), "5");
  EXPECT_FALSE(extract_answer("the answer is 12"));
  EXPECT_FALSE(extract_answer("\\boxed{12"));  // unbalanced: no answer
  EXPECT_FALSE(extract_answer("Answer:   \n"));
  EXPECT_FALSE(extract_answer(""));
}

TEST(MathNormalisation, SurfaceForms) {
  EXPECT_EQ(normalize_answer("\\left( 1, 2 \\right)"), "(1,2)");
  EXPECT_EQ(normalize_answer("\\dfrac{3}{4}"), "\\frac{3}{4}");
  EXPECT_EQ(normalize_answer("\\frac12"), "\\frac{1}{2}");
  EXPECT_EQ(normalize_answer("\\text{5 cm}"), "5");
  EXPECT_EQ(normalize_answer("90^\\circ"), "90");
  EXPECT_EQ(normalize_answer("25\\%"), "25");
  EXPECT_EQ(normalize_answer("1,000,000"), "1000000");
  EXPECT_EQ(normalize_answer("x = 3."), "3");
  EXPECT_EQ(normalize_answer("  \\$ 7 "), "7");
  EXPECT_EQ(normalize_answer("2\\pi r"), "2\\pir");
}

TEST(MathExpression, EvaluatorNeverThrows) {
  std::string err;
  // Dyadic values: IEEE /, + and sqrt are correctly rounded, hence exact here (bitwise);
  // 2^3 goes through libm pow (within ~1 ulp, in practice exact): DOUBLE_EQ.
  EXPECT_EQ(*evaluate_math_expression("\\frac{1}{2}+\\sqrt{4}", &err), 2.5);
  EXPECT_DOUBLE_EQ(*evaluate_math_expression("2^{3}", &err), 8.0);
  EXPECT_EQ(*evaluate_math_expression("3\\frac{1}{4}", &err), 3.25);
  for (const char* bad : {"", "(", "\\frac{1}", "1/0", "x", "\\infty", "((((", "\\sqrt{-1}", "10^{1000}", "}", "\\frac",
                          "2^", "--", "1..2"}) {
    std::optional<double> v;
    EXPECT_NO_THROW(v = evaluate_math_expression(bad, &err)) << bad;
    EXPECT_FALSE(v) << bad;
  }
  std::string deep(5000, '(');
  EXPECT_FALSE(evaluate_math_expression(deep + "1", &err));
  // Expressions with variables: malformed ones are errors (nullopt), never exceptions;
  // deep nesting of any kind (signs, exponents, functions, subscripts) is refused.
  const MathVariableValues values = {{"x", 1.5}, {"y", -0.75}};
  for (std::string bad :
       {"", "x(", "\\frac{x}", "x^", "\\sqrt{x", "x_", "x_{", "x_{}", "\\theta\\", "x2", "\\sin^{-1}x", "\\pmx",
        "x\\cdots", "2x=4", "\\frac{1}", "((((x", "--", "x..y", "\\infty x"}) {
    EXPECT_NO_THROW(EXPECT_FALSE(math_expression_variables(bad, &err)) << bad) << bad;
    EXPECT_NO_THROW(EXPECT_FALSE(evaluate_math_expression_at(bad, values, &err)) << bad) << bad;
    EXPECT_NO_THROW(EXPECT_FALSE(evaluate_math_expression(bad, &err)) << bad) << bad;
  }
  for (const char* prefix : {"(", "-", "x^", "\\sin", "\\sqrt{", "a_{", "{", "\\log_", "\\frac{"}) {
    std::string nested;
    while (nested.size() < 16384) nested += prefix;
    nested += "x";
    EXPECT_NO_THROW(EXPECT_FALSE(math_expression_variables(nested, &err)) << prefix) << prefix;
    EXPECT_NO_THROW(EXPECT_FALSE(evaluate_math_expression_at(nested, values, &err)) << prefix) << prefix;
  }
  // Undefined at the given values is a value (NaN, inf), not an error.
  for (const char* undefined : {"\\sqrt{y}", "\\lny", "\\frac{1}{x-x}", "x/(y-y)", "10^{10^{10}}x", "y^{0.5}"}) {
    std::optional<double> v;
    EXPECT_NO_THROW(v = evaluate_math_expression_at(undefined, values, &err)) << undefined;
    ASSERT_TRUE(v) << undefined << ": " << err;
    EXPECT_FALSE(std::isfinite(*v)) << undefined;
  }
}

TEST(MathExpression, VariablesAndValues) {
  std::string err;
  using Names = std::vector<std::string>;
  auto variables = [&](const std::string& text) {
    return math_expression_variables(text, &err).value_or(Names{"(error: " + err + ")"});
  };
  EXPECT_EQ(variables("a_1+\\thetax^2+a_{1}"), (Names{"\\theta", "a_1", "x"}));
  EXPECT_EQ(variables("\\frac{1}{2}+\\pi"), Names{});
  EXPECT_EQ(variables("2\\pir^2"), Names{"r"});  // "\pi r" with the space removed
  EXPECT_EQ(variables("x\\cdoty\\timesz"), (Names{"x", "y", "z"}));
  EXPECT_EQ(variables("3+4i"), Names{"i"});
  EXPECT_FALSE(evaluate_math_expression("2x", &err));  // variables are not numbers
  const MathVariableValues v = {{"x", 1.5}, {"y", 2.0}, {"r", 2.0}, {"\\theta", 0.5}, {"a_1", 3.0}};
  auto at = [&](const std::string& text) {
    auto value = evaluate_math_expression_at(text, v, &err);
    EXPECT_TRUE(value) << text << ": " << err;
    return value.value_or(-12345.0);
  };
  EXPECT_DOUBLE_EQ(at("2x+y"), 5.0);
  EXPECT_DOUBLE_EQ(at("\\pir^2"), 4 * M_PI);
  EXPECT_DOUBLE_EQ(at("\\frac{x}{y}"), 0.75);
  EXPECT_DOUBLE_EQ(at("xy^2"), 6.0);
  EXPECT_DOUBLE_EQ(at("a_1\\theta"), 1.5);
  EXPECT_DOUBLE_EQ(at("\\sin2x"), std::sin(3.0));  // \sin(2x)
  EXPECT_DOUBLE_EQ(at("\\sinx\\cosx"), std::sin(1.5) * std::cos(1.5));
  EXPECT_DOUBLE_EQ(at("\\sin^2x"), std::sin(1.5) * std::sin(1.5));
  EXPECT_DOUBLE_EQ(at("\\log_2y"), 1.0);
  EXPECT_DOUBLE_EQ(at("2\\frac{1}{2}x"), 3.75);               // a mixed number times x
  EXPECT_FALSE(evaluate_math_expression_at("x+z", v, &err));  // z has no value
  EXPECT_NE(err.find("'z'"), std::string::npos) << err;
}

TEST(MathTask, FixturesAndResponses) {
  TaskOptions o;
  o.name = "math";
  o.data_path = std::string(DISA_SOURCE_DIR) + "/tests/fixtures/math.jsonl";
  MathTask task(o);
  Dataset ds = task.make_dataset();
  EXPECT_EQ(ds.size(), 30u);
  // Every reference answer is accepted as its own boxed response.
  for (const auto& r : ds.records()) {
    auto res = task.reward(r, "Working.\n\\boxed{" + r.text("answer") + "}");
    EXPECT_EQ(res.reward, 1.0) << r.id << " " << res.detail;
    EXPECT_NE(task.render_prompt(r).find(r.text("problem")), std::string::npos);
  }
  std::ifstream in(std::string(DISA_TEST_DATA_DIR) + "/tasks/math_responses.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    auto res = task.reward(ds.by_id(j["id"]), j["response"]);
    EXPECT_EQ(to_string(res.reason), j["expected_reason"].get<std::string>()) << j["id"] << ": " << res.detail;
    EXPECT_EQ(res.reward, j["expected_reason"] == "correct" ? 1.0 : 0.0);
    ++n;
  }
  EXPECT_GE(n, 15);
}

TEST(MathTask, ConfigurableFieldNames) {
  TaskOptions o;
  o.name = "math";
  o.data_path = std::string(DISA_TEST_DATA_DIR) + "/tasks/gsm_style.jsonl";
  o.id_field = "";
  o.problem_field = "question";
  o.answer_field = "solution";
  MathTask task(o);
  Dataset ds = task.make_dataset();
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds[0].id, "gsm_style-1");
  EXPECT_EQ(task.render_prompt(ds[0]), "3+4?\nPut the final answer in \\boxed{}.\n");
  EXPECT_EQ(task.reward(ds[1], "#### 10").reward, 1.0);
}
