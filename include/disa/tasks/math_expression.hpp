// A small evaluator for normalised LaTeX-ish answers: integers, decimals, scientific
// notation, + - * / ^, \cdot \times \div, implicit multiplication, parentheses and braces,
// \frac{a}{b} (and \frac12), mixed numbers (3\frac{1}{2}), \sqrt{x}, \sqrt[n]{x}, \pi,
// and \sin \cos \tan \sinh \cosh \tanh \ln \log \exp (\sin^2x is (\sin x)^2; an unbracketed
// argument runs over implicitly multiplied factors up to the next function: \sin2x is
// \sin(2x), \sin x\cos x is \sin(x)\cos(x)). Used to compare closed forms numerically.
//
// Free variables: single letters (x, n, A; e and i too: they are variables here, not
// Euler's number or the imaginary unit) and Greek letters (\theta, \alpha; not \pi),
// each with an optional subscript (a_1, x_{n}: named a_1, x_n). Since normalisation
// removes spaces, a command glued to a following letter is split after the longest
// command name it starts with: \pir is \pi r, \cdotx is \cdot x, \sinx is \sin x.
//
// evaluate_math_expression gives the value of a closed form: variables (like \infty,
// sets or anything else it does not know) are "not a number" there.
// evaluate_math_expression_at evaluates with values for the variables (comparison of
// expressions at points; math_expression_variables lists the ones an expression uses).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace disa::tasks {

using MathVariableValues = std::map<std::string, double>;

// The value of `text` (already normalised: no spaces), or nullopt with a message when it
// is not a closed form, or its value is undefined (division by zero, square root of a
// negative number) or not finite. Never throws.
std::optional<double> evaluate_math_expression(const std::string& text, std::string* error);

// The free variables of `text`, sorted, each once (empty for a closed form), or nullopt
// with a message when `text` is not a well-formed expression. Never throws.
std::optional<std::vector<std::string>> math_expression_variables(const std::string& text, std::string* error);

// The value of `text` with its variables set from `values`. Where the expression is
// undefined at these values (division by zero, square root or logarithm of a negative
// number, overflow) the value is NaN or +-inf, not an error; nullopt with a message when
// `text` is not well formed or one of its variables has no value. Never throws.
std::optional<double> evaluate_math_expression_at(const std::string& text, const MathVariableValues& values,
                                                  std::string* error);

}  // namespace disa::tasks
