// Recursive-descent evaluator of normalised numeric LaTeX answers (see
// include/disa/tasks/math_expression.hpp for the accepted forms).
#include "disa/tasks/math_expression.hpp"

#include <cctype>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

namespace disa::tasks {

namespace {

struct Value {
  double v = 0.0;
  bool integer_literal = false;  // a bare integer as written (for mixed numbers)
};

class Evaluator {
 public:
  explicit Evaluator(const std::string& s) : s_(s) {}

  std::optional<double> run(std::string* error) {
    std::optional<double> out;
    if (s_.empty()) {
      fail("empty expression");
    } else {
      auto v = expr();
      if (v && pos_ != s_.size()) fail(fmt::format("unexpected '{}'", s_.substr(pos_, 8)));
      if (v && error_.empty()) {
        if (std::isfinite(v->v))
          out = v->v;
        else
          fail("not a finite number");
      }
    }
    if (!out && error) *error = error_;
    return out;
  }

 private:
  void fail(const std::string& msg) {
    if (error_.empty()) error_ = msg;
  }
  bool ok() const { return error_.empty(); }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  bool starts(const char* lit) const { return s_.compare(pos_, std::strlen(lit), lit) == 0; }
  bool eat(const char* lit) {
    if (!starts(lit)) return false;
    pos_ += std::strlen(lit);
    return true;
  }
  // A LaTeX command name at pos (after the backslash), without consuming.
  std::string command_at() const {
    if (peek() != '\\') return "";
    std::size_t j = pos_ + 1;
    while (j < s_.size() && std::isalpha(static_cast<unsigned char>(s_[j]))) ++j;
    return s_.substr(pos_ + 1, j - pos_ - 1);
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
    // A number cannot directly follow a factor ("1..2", "(2)3" are malformed).
    char c = peek();
    if (c == '(' || c == '{') return true;
    if (c == '\\') {
      std::string cmd = command_at();
      return cmd == "frac" || cmd == "sqrt" || cmd == "pi" || cmd == "sin" || cmd == "cos" || cmd == "tan" ||
             cmd == "ln" || cmd == "log" || cmd == "exp";
    }
    return false;
  }

  std::optional<Value> term() {
    auto left = unary();
    while (left && ok()) {
      if (peek() == '*' || eat("\\cdot") || eat("\\times")) {
        if (peek() == '*') ++pos_;
        auto right = unary();
        if (!right) return std::nullopt;
        left->v *= right->v;
      } else if (peek() == '/' || eat("\\div")) {
        if (peek() == '/') ++pos_;
        auto right = unary();
        if (!right) return std::nullopt;
        if (right->v == 0.0) {
          fail("division by zero");
          return std::nullopt;
        }
        left->v /= right->v;
      } else if (starts_primary()) {
        // Mixed number: an integer written directly before \frac{int}{int}.
        bool mixed = left->integer_literal && command_at() == "frac";
        std::size_t save = pos_;
        auto right = power();
        if (!right) return std::nullopt;
        if (mixed && frac_of_integers_) {
          left->v = left->v < 0 ? left->v - right->v : left->v + right->v;
        } else {
          (void)save;
          left->v *= right->v;
        }
      } else {
        break;
      }
      left->integer_literal = false;
    }
    return ok() ? left : std::nullopt;
  }

  std::optional<Value> unary() {
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

  // The argument of \frac or \sqrt: a braced expression or a single digit / command.
  std::optional<Value> argument() {
    if (peek() == '{') return primary();
    if (std::isdigit(static_cast<unsigned char>(peek()))) {
      Value v;
      v.v = s_[pos_++] - '0';
      v.integer_literal = true;
      return v;
    }
    if (peek() == '\\') return primary();
    fail("expected an argument");
    return std::nullopt;
  }

  std::optional<Value> primary() {
    if (++depth_ > 100) {
      fail("nested too deeply");
      return std::nullopt;
    }
    struct DepthGuard {
      int& d;
      ~DepthGuard() { --d; }
    } guard{depth_};
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
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') return number();
    if (c == '\\') {
      std::string cmd = command_at();
      pos_ += 1 + cmd.size();
      if (cmd == "pi") return Value{M_PI, false};
      if (cmd == "frac") {
        auto num = argument();
        if (!num) return std::nullopt;
        auto den = argument();
        if (!den) return std::nullopt;
        if (den->v == 0.0) {
          fail("division by zero");
          return std::nullopt;
        }
        frac_of_integers_ = num->integer_literal && den->integer_literal;
        return Value{num->v / den->v, false};
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
        if (arg->v < 0 && index == 2.0) {
          fail("square root of a negative number");
          return std::nullopt;
        }
        return Value{index == 2.0 ? std::sqrt(arg->v) : std::pow(arg->v, 1.0 / index), false};
      }
      if (cmd == "sin" || cmd == "cos" || cmd == "tan" || cmd == "ln" || cmd == "log" || cmd == "exp") {
        auto arg = (peek() == '{' || peek() == '(') ? primary() : power();
        if (!arg) return std::nullopt;
        double x = arg->v;
        double y = cmd == "sin"   ? std::sin(x)
                   : cmd == "cos" ? std::cos(x)
                   : cmd == "tan" ? std::tan(x)
                   : cmd == "exp" ? std::exp(x)
                   : cmd == "ln"  ? std::log(x)
                                  : std::log10(x);
        return Value{y, false};
      }
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
      if (std::isdigit(static_cast<unsigned char>(c))) {
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
      if (j < s_.size() && std::isdigit(static_cast<unsigned char>(s_[j]))) {
        pos_ = j;
        while (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) ++pos_;
        exponent = true;
      }
    }
    Value v;
    v.v = std::strtod(s_.substr(start, pos_ - start).c_str(), nullptr);
    v.integer_literal = !dot && !exponent;
    return v;
  }

  const std::string& s_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  bool frac_of_integers_ = false;
  std::string error_;
};

}  // namespace

std::optional<double> evaluate_math_expression(const std::string& text, std::string* error) {
  return Evaluator(text).run(error);
}

}  // namespace disa::tasks
