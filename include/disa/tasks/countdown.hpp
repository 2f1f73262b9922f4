// countdown: reach a target with some of the given numbers, + - * and parentheses, each
// number used at most once. Response format (strict, so the correct set is finite):
// the expression in canonical form followed by "\n" (the terminator): no spaces, no
// leading zeros, and parentheses exactly where precedence and left associativity need
// them ("3*(4+5)", "8-(2-1)", "2*(3*4)"; not "(3*4)+5" or "3+(4+5)" written as
// "3+4+5", which is a different tree). Every expression tree has exactly one canonical
// string, so enumerate_solutions lists each tree that reaches the target once.
// Canonical keys flatten sums (with signs) and products and sort their terms, so
// commutative and associative rewrites ("3+4" and "4+3") share one key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "disa/tasks/task.hpp"
#include "disa/tasks/task_options.hpp"

namespace disa::tasks {

// A parsed countdown expression.
struct CountdownExpr {
  char op = 0;  // 0 for a number, else '+', '-', '*'
  int64_t number = 0;
  std::vector<CountdownExpr> children;  // two for an operator

  int64_t value() const;
  std::string canonical_text() const;  // the one accepted spelling
  std::string solution_key() const;    // flattened, sorted terms
  void collect_numbers(std::vector<int64_t>& out) const;
};

// Parses "+ - * ( ) digits" with the usual precedence and left associativity; nullopt
// and a message for anything else.
std::optional<CountdownExpr> parse_countdown(const std::string& text, std::string* error);

// Every canonical expression over a sub-multiset of `numbers` whose value is `target`,
// sorted and without duplicates (terminator not included).
std::vector<std::string> countdown_expressions(const std::vector<int64_t>& numbers, int64_t target);

class CountdownTask : public Task {
 public:
  explicit CountdownTask(TaskOptions options);
  std::string name() const override { return "countdown"; }
  Dataset make_dataset() const override;
  std::string render_prompt(const Record& record) const override;
  RewardResult reward(const Record& record, const std::string& response) const override;
  std::optional<std::vector<std::string>> enumerate_solutions(const Record& record) const override;
  std::string response_terminator() const override { return "\n"; }

  static constexpr const char* kDefaultTemplate = "make {target} from {numbers} using + - * ()\\n";

 private:
  TaskOptions options_;
};

}  // namespace disa::tasks
