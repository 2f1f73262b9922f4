// Math answers: extraction from a response (last \boxed{...} with nested braces, else
// the last "Answer:" line, else the last "####" line), normalisation of LaTeX surface
// forms, and equivalence (string, exact integer, numeric with relative tolerance,
// expressions with free variables by evaluation at fixed points with the same tolerance,
// tuples and intervals element by element). Never throws on bad answers: they are
// unequal with a reason.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "disa/tasks/reward.hpp"

namespace disa::tasks {

struct MathCompareOptions {
  bool strict_brackets = true;       // "(1,2)" vs "[1,2]" unequal when true
  double relative_tolerance = 1e-6;  // numeric equality |a-b| <= tol * max(|a|,|b|), also per point
};

// The final answer stated in a response, or nullopt when it states none.
std::optional<std::string> extract_answer(const std::string& response);

// The argument of the last \boxed{...} (or \fbox{...}) with balanced braces.
std::optional<std::string> last_boxed(const std::string& text);

// Canonical surface form: no $ or \( \), \left/\right, \dfrac/\tfrac -> \frac,
// \text{}/\mathrm{} unwrapped, units, degrees, % and \$ removed, thousands separators,
// spaces and a trailing period removed, a leading "x =" dropped, \frac12 -> \frac{1}{2}.
std::string normalize_answer(const std::string& answer);

struct MathComparison {
  bool equal = false;
  Reason reason = Reason::WrongAnswer;  // Correct, WrongAnswer or Unparsable
  std::string detail;
  std::string candidate_key;  // canonical key of the candidate (numeric value if any)
};

MathComparison compare_answers(const std::string& candidate, const std::string& reference,
                               const MathCompareOptions& options);

}  // namespace disa::tasks
