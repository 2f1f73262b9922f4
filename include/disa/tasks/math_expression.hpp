// A small evaluator for normalised LaTeX-ish numeric answers: integers, decimals,
// scientific notation, + - * / ^, \cdot \times \div, implicit multiplication,
// parentheses and braces, \frac{a}{b} (and \frac12), mixed numbers (3\frac{1}{2}),
// \sqrt{x}, \sqrt[n]{x}, \pi, and \sin \cos \tan \ln \log \exp. Used to compare closed
// forms numerically; anything else (variables, \infty, sets) is "not a number".
#pragma once

#include <optional>
#include <string>

namespace disa::tasks {

// The value of `text` (already normalised: no spaces), or nullopt with a message.
// Never throws.
std::optional<double> evaluate_math_expression(const std::string& text, std::string* error);

}  // namespace disa::tasks
