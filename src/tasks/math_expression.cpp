// Recursive-descent evaluator of normalised LaTeX answers (see
// include/disa/tasks/math_expression.hpp for the accepted forms).
#include "disa/tasks/math_expression.hpp"

#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>

namespace disa::tasks {

namespace {

// Nesting bound (parentheses, braces, signs, exponents, function arguments together): deep
// input fails with a message instead of exhausting the stack.
constexpr int kMaxDepth = 300;

// The functions of one argument (\log, with its optional base, is parsed on its own).
const std::map<std::string, double (*)(double)>& unary_functions() {
  static const std::map<std::string, double (*)(double)> functions{
      {"sin", [](double v) { return std::sin(v); }},         {"cos", [](double v) { return std::cos(v); }},
      {"tan", [](double v) { return std::tan(v); }},         {"cot", [](double v) { return 1.0 / std::tan(v); }},
      {"sec", [](double v) { return 1.0 / std::cos(v); }},   {"csc", [](double v) { return 1.0 / std::sin(v); }},
      {"sinh", [](double v) { return std::sinh(v); }},       {"cosh", [](double v) { return std::cosh(v); }},
      {"tanh", [](double v) { return std::tanh(v); }},       {"coth", [](double v) { return 1.0 / std::tanh(v); }},
      {"sech", [](double v) { return 1.0 / std::cosh(v); }}, {"csch", [](double v) { return 1.0 / std::sinh(v); }},
      {"arcsin", [](double v) { return std::asin(v); }},     {"arccos", [](double v) { return std::acos(v); }},
      {"arctan", [](double v) { return std::atan(v); }},     {"exp", [](double v) { return std::exp(v); }},
      {"ln", [](double v) { return std::log(v); }}};
  return functions;
}

bool is_function(const std::string& cmd) { return cmd == "log" || unary_functions().count(cmd) != 0; }

// Greek letters that are variables (\pi is the constant; \Pi and \Sigma are left out: they
// are products and sums).
bool is_greek_variable(const std::string& cmd) {
  static const std::set<std::string> letters = {"alpha",  "beta",     "gamma",   "delta",    "epsilon", "varepsilon",
                                                "zeta",   "eta",      "theta",   "vartheta", "iota",    "kappa",
                                                "lambda", "mu",       "nu",      "xi",       "rho",     "varrho",
                                                "sigma",  "varsigma", "tau",     "upsilon",  "phi",     "varphi",
                                                "chi",    "psi",      "omega",   "Gamma",    "Delta",   "Theta",
                                                "Lambda", "Xi",       "Upsilon", "Phi",      "Psi",     "Omega"};
  return letters.count(cmd) != 0;
}

// Every command name the evaluator recognises, and a few it rejects on purpose (\cdots is
// not \cdot s): a longer run of letters after a backslash is split after the longest of
// these it starts with ("\pir" -> "\pi" "r"), since normalisation removes spaces.
constexpr std::size_t kLongestCommand = 10;  // "varepsilon"
bool is_known_command(const std::string& cmd) {
  static const std::set<std::string> others = {"pi",    "frac", "sqrt",  "cdot",  "times", "div",
                                               "cdots", "dots", "ldots", "vdots", "ddots"};
  return others.count(cmd) != 0 || is_function(cmd) || is_greek_variable(cmd);
}

struct Value {
  double v = 0.0;
  bool integer_literal = false;  // a bare integer as written (for mixed numbers)
};

class Evaluator {
 public:
  // values == nullptr: a closed form; a variable is an error, and so is an undefined value
  // (division by zero, square root of a negative number, a non-finite result). Otherwise
  // variables take their values, a variable without one is recorded in `names` (value
  // NaN) or, without `names`, an error; undefined values are NaN or +-inf, never errors, so
  // whether the text parses never depends on the values.
  Evaluator(const std::string& s, const MathVariableValues* values, std::set<std::string>* names)
      : s_(s), values_(values), names_(names) {}

  std::optional<double> run(std::string* error) {
    std::optional<double> out;
    if (s_.empty()) {
      fail("empty expression");
    } else {
      auto v = expr();
      if (v && pos_ != s_.size()) fail(fmt::format("unexpected '{}'", s_.substr(pos_, 8)));
      if (v && ok()) {
        if (lenient() || std::isfinite(v->v))
          out = v->v;
        else
          fail("not a finite number");
      }
    }
    if (!out && error) *error = error_;
    return out;
  }

 private:
  struct DepthGuard {
    int& d;
    ~DepthGuard() { --d; }
  };

  bool lenient() const { return values_ != nullptr; }
  void fail(const std::string& msg) {
    if (error_.empty()) error_ = msg;
  }
  bool ok() const { return error_.empty(); }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  bool starts(const char* lit) const { return s_.compare(pos_, std::strlen(lit), lit) == 0; }
  bool too_deep() {
    if (depth_ <= kMaxDepth) return false;
    fail("nested too deeply");
    return true;
  }
  static bool alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
  static bool digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

  // The LaTeX command name at pos (after the backslash), without consuming: the whole run
  // of letters when it is a known command, else the longest known command it starts with
  // ("\pir" -> "pi"), else the run (at most a few letters beyond any known name).
  std::string command_at() const {
    if (peek() != '\\') return "";
    std::size_t j = pos_ + 1;
    while (j < s_.size() && j - pos_ - 1 <= kLongestCommand && alpha(s_[j])) ++j;
    std::string run = s_.substr(pos_ + 1, j - pos_ - 1);
    if (run.size() <= kLongestCommand && (j >= s_.size() || !alpha(s_[j])) && is_known_command(run)) return run;
    for (std::size_t n = std::min(run.size(), kLongestCommand); n >= 2; --n)
      if (is_known_command(run.substr(0, n))) return run.substr(0, n);
    return run;
  }

  std::optional<Value> expr() {
    auto left = term();
    while (left && ok() && (peek() == '+' || peek() == '-')) {
      char op = s_[pos_++];
      auto right = term();
      if (!right) return std::nullopt;
      left->v = op == '+' ? left->v + right->v : left->v - right->v;
      left->integer_literal = false;
    }
    return ok() ? left : std::nullopt;
  }

  bool starts_primary() const {
    // A number cannot directly follow a factor ("1..2", "(2)3", "x2" are malformed).
    char c = peek();
    if (c == '(' || c == '{' || alpha(c)) return true;
    if (c == '\\') {
      std::string cmd = command_at();
      return cmd == "frac" || cmd == "sqrt" || cmd == "pi" || is_function(cmd) || is_greek_variable(cmd);
    }
    return false;
  }

  bool starts_function() const { return peek() == '\\' && is_function(command_at()); }

  // A multiplicative operator at pos ('*', '/', \cdot, \times, \div), consumed: '*' or
  // '/'; else 0.
  char take_operator() {
    char c = peek();
    if (c == '*' || c == '/') {
      ++pos_;
      return c;
    }
    if (c == '\\') {
      std::string cmd = command_at();
      if (cmd == "cdot" || cmd == "times" || cmd == "div") {
        pos_ += 1 + cmd.size();
        return cmd == "div" ? '/' : '*';
      }
    }
    return 0;
  }

  std::optional<Value> divide(Value left, const Value& right) {
    if (right.v == 0.0 && !lenient()) {
      fail("division by zero");
      return std::nullopt;
    }
    left.v /= right.v;
    return left;
  }

  std::optional<Value> term() {
    auto left = unary();
    while (left && ok()) {
      if (char op = take_operator()) {
        auto right = unary();
        if (!right) return std::nullopt;
        if (op == '*') {
          left->v *= right->v;
        } else {
          left = divide(*left, *right);
          if (!left) return std::nullopt;
        }
      } else if (starts_primary()) {
        // Mixed number: an integer written directly before \frac{int}{int}.
        bool mixed = left->integer_literal && command_at() == "frac";
        auto right = power();
        if (!right) return std::nullopt;
        if (mixed && frac_of_integers_)
          left->v = left->v < 0 ? left->v - right->v : left->v + right->v;
        else
          left->v *= right->v;
      } else {
        break;
      }
      left->integer_literal = false;
    }
    return ok() ? left : std::nullopt;
  }

  std::optional<Value> unary() {
    DepthGuard guard{++depth_};
    if (too_deep()) return std::nullopt;
    if (peek() == '-') {
      ++pos_;
      auto v = unary();
      if (v) v->v = -v->v;
      return v;
    }
    if (peek() == '+') {
      ++pos_;
      return unary();
    }
    return power();
  }

  std::optional<Value> power() {
    DepthGuard guard{++depth_};
    if (too_deep()) return std::nullopt;
    auto base = primary();
    if (!base || !ok()) return std::nullopt;
    if (peek() == '^') {
      ++pos_;
      std::optional<Value> exponent;
      if (peek() == '{' || peek() == '(') {
        exponent = primary();
      } else if (peek() == '-' || peek() == '+') {
        exponent = unary();
      } else {
        exponent = power();
      }
      if (!exponent) return std::nullopt;
      base->v = std::pow(base->v, exponent->v);
      base->integer_literal = false;
    }
    return base;
  }

  // The argument of \frac or \sqrt: a braced expression, a single digit, a letter or a
  // command.
  std::optional<Value> argument() {
    if (peek() == '{' || peek() == '\\' || alpha(peek())) return primary();
    if (digit(peek())) {
      Value v;
      v.v = s_[pos_++] - '0';
      v.integer_literal = true;
      return v;
    }
    fail("expected an argument");
    return std::nullopt;
  }

  // A variable named `name` (a letter or "\theta") whose letters were just consumed, with
  // an optional subscript ("a_1", "x_{n}": named "a_1", "x_n").
  std::optional<Value> variable(std::string name) {
    if (!values_) {
      fail(fmt::format("unknown symbol '{}'", name));
      return std::nullopt;
    }
    if (peek() == '_') {
      ++pos_;
      if (alpha(peek()) || digit(peek())) {
        name += '_';
        name += s_[pos_++];
      } else if (peek() == '{') {
        int depth = 0;
        std::size_t close = pos_;
        for (; close < s_.size(); ++close) {
          if (s_[close] == '{') ++depth;
          if (s_[close] == '}' && --depth == 0) break;
        }
        if (close >= s_.size() || close == pos_ + 1) {
          fail("malformed subscript");
          return std::nullopt;
        }
        name += '_';
        name += s_.substr(pos_ + 1, close - pos_ - 1);
        pos_ = close + 1;
      } else {
        fail("expected a subscript");
        return std::nullopt;
      }
    }
    if (auto it = values_->find(name); it != values_->end()) return Value{it->second, false};
    if (names_) {
      names_->insert(name);
      return Value{std::numeric_limits<double>::quiet_NaN(), false};
    }
    fail(fmt::format("no value for the variable '{}'", name));
    return std::nullopt;
  }

  // \sin x, \sin(x), \sin^2 x, \log_2 8 (the name already consumed).
  std::optional<Value> function(const std::string& cmd) {
    std::optional<double> base;
    if (cmd == "log" && peek() == '_') {
      ++pos_;
      auto b = argument();
      if (!b) return std::nullopt;
      base = b->v;
    }
    std::optional<double> exponent;
    if (peek() == '^') {
      ++pos_;
      // \sin^{-1} is the inverse function, not 1/\sin: refused rather than misread.
      if (peek() == '-' || starts("{-")) {
        fail(fmt::format("\\{}^{{-1}} (inverse function notation) is not supported", cmd));
        return std::nullopt;
      }
      auto e = argument();
      if (!e) return std::nullopt;
      exponent = e->v;
    }
    // A bracketed argument, else implicitly multiplied factors up to the next function or
    // operator: \sin2x is \sin(2x), \sin x\cos x is \sin(x)\cos(x).
    std::optional<Value> arg;
    if (peek() == '(' || peek() == '{') {
      arg = primary();
    } else {
      arg = power();
      while (arg && ok() && starts_primary() && !starts_function()) {
        auto factor = power();
        if (!factor) return std::nullopt;
        arg->v *= factor->v;
      }
    }
    if (!arg || !ok()) return std::nullopt;
    const double x = arg->v;
    const auto fn = unary_functions().find(cmd);
    double y = fn != unary_functions().end() ? fn->second(x) : base ? std::log(x) / std::log(*base) : std::log10(x);
    if (exponent) y = std::pow(y, *exponent);
    return Value{y, false};
  }

  std::optional<Value> primary() {
    DepthGuard guard{++depth_};
    if (too_deep()) return std::nullopt;
    char c = peek();
    if (c == '(' || c == '{') {
      char close = c == '(' ? ')' : '}';
      ++pos_;
      auto v = expr();
      if (!v) return std::nullopt;
      if (peek() != close) {
        fail(fmt::format("missing '{}'", close));
        return std::nullopt;
      }
      ++pos_;
      // A braced integer keeps its literal status ("\frac{1}{2}" arguments).
      return v;
    }
    if (digit(c) || c == '.') return number();
    if (alpha(c)) {
      ++pos_;
      return variable(std::string(1, c));
    }
    if (c == '\\') {
      std::string cmd = command_at();
      pos_ += 1 + cmd.size();
      if (cmd == "pi") return Value{M_PI, false};
      if (is_greek_variable(cmd)) return variable("\\" + cmd);
      if (cmd == "frac") {
        auto num = argument();
        if (!num) return std::nullopt;
        auto den = argument();
        if (!den) return std::nullopt;
        frac_of_integers_ = num->integer_literal && den->integer_literal;
        auto q = divide(*num, *den);
        if (!q) return std::nullopt;
        return Value{q->v, false};
      }
      if (cmd == "sqrt") {
        double index = 2.0;
        if (peek() == '[') {
          ++pos_;
          auto n = expr();
          if (!n) return std::nullopt;
          if (peek() != ']') {
            fail("missing ']'");
            return std::nullopt;
          }
          ++pos_;
          index = n->v;
        }
        auto arg = argument();
        if (!arg) return std::nullopt;
        if (arg->v < 0 && index == 2.0 && !lenient()) {
          fail("square root of a negative number");
          return std::nullopt;
        }
        return Value{index == 2.0 ? std::sqrt(arg->v) : std::pow(arg->v, 1.0 / index), false};
      }
      if (is_function(cmd)) return function(cmd);
      fail(fmt::format("unknown command '\\{}'", cmd));
      return std::nullopt;
    }
    if (c == '\0')
      fail("unexpected end");
    else
      fail(fmt::format("unknown symbol '{}'", c));
    return std::nullopt;
  }

  std::optional<Value> number() {
    std::size_t start = pos_;
    bool digits = false, dot = false;
    while (!at_end()) {
      char c = peek();
      if (digit(c)) {
        digits = true;
        ++pos_;
      } else if (c == '.' && !dot) {
        dot = true;
        ++pos_;
      } else {
        break;
      }
    }
    if (!digits) {
      fail("malformed number");
      return std::nullopt;
    }
    bool exponent = false;
    if ((peek() == 'e' || peek() == 'E') && pos_ + 1 < s_.size()) {
      std::size_t j = pos_ + 1;
      if (s_[j] == '+' || s_[j] == '-') ++j;
      if (j < s_.size() && digit(s_[j])) {
        pos_ = j;
        while (!at_end() && digit(peek())) ++pos_;
        exponent = true;
      }
    }
    Value v;
    v.v = std::strtod(s_.substr(start, pos_ - start).c_str(), nullptr);
    v.integer_literal = !dot && !exponent;
    return v;
  }

  const std::string& s_;
  const MathVariableValues* values_;
  std::set<std::string>* names_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  bool frac_of_integers_ = false;
  std::string error_;
};

}  // namespace

std::optional<double> evaluate_math_expression(const std::string& text, std::string* error) {
  return Evaluator(text, nullptr, nullptr).run(error);
}

std::optional<std::vector<std::string>> math_expression_variables(const std::string& text, std::string* error) {
  static const MathVariableValues kNoValues;
  std::set<std::string> names;
  if (!Evaluator(text, &kNoValues, &names).run(error)) return std::nullopt;
  return std::vector<std::string>(names.begin(), names.end());
}

std::optional<double> evaluate_math_expression_at(const std::string& text, const MathVariableValues& values,
                                                  std::string* error) {
  return Evaluator(text, &values, nullptr).run(error);
}

}  // namespace disa::tasks
