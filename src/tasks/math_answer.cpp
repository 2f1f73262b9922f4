// Math answer extraction, normalisation and equivalence (see
// include/disa/tasks/math_answer.hpp).
#include "disa/tasks/math_answer.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "disa/tasks/math_expression.hpp"

namespace disa::tasks {

namespace {

std::string trim(const std::string& s) {
  std::size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  std::size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  std::size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
}

// Replaces "\cmd" only where it is a whole command (not a prefix of a longer name).
void replace_command(std::string& s, const std::string& cmd, const std::string& to) {
  std::size_t pos = 0;
  while ((pos = s.find(cmd, pos)) != std::string::npos) {
    std::size_t end = pos + cmd.size();
    if (end < s.size() && std::isalpha(static_cast<unsigned char>(s[end]))) {
      pos = end;
      continue;
    }
    s.replace(pos, cmd.size(), to);
    pos += to.size();
  }
}

// Index of the brace matching the '{' at `open`, or npos.
std::size_t matching_brace(const std::string& s, std::size_t open) {
  int depth = 0;
  for (std::size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '}')) {
      ++i;
      continue;
    }
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string::npos;
}

// "\text{abc}" -> "abc" for the given wrapper commands.
void unwrap_commands(std::string& s, const std::vector<std::string>& commands) {
  for (const auto& cmd : commands) {
    const std::string open = cmd + "{";
    std::size_t pos;
    while ((pos = s.find(open)) != std::string::npos) {
      std::size_t close = matching_brace(s, pos + cmd.size());
      if (close == std::string::npos) {
        s.erase(pos, open.size());
        continue;
      }
      std::string inner = s.substr(pos + open.size(), close - pos - open.size());
      s.replace(pos, close - pos + 1, inner);
    }
  }
}

bool is_plain_number(const std::string& s) {
  if (s.empty()) return false;
  std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  bool digit = false, dot = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (std::isdigit(static_cast<unsigned char>(c)))
      digit = true;
    else if (c == '.' && !dot)
      dot = true;
    else if (c == ',')
      continue;
    else
      return false;
  }
  return digit;
}

const std::set<std::string>& unit_words() {
  static const std::set<std::string> units = {"cm",     "m",      "km",     "mm",      "kg",      "g",       "mg",
                                              "lb",     "lbs",    "oz",     "s",       "sec",     "second",  "seconds",
                                              "min",    "mins",   "minute", "minutes", "h",       "hr",      "hrs",
                                              "hour",   "hours",  "day",    "days",    "week",    "weeks",   "month",
                                              "months", "year",   "years",  "dollar",  "dollars", "cent",    "cents",
                                              "unit",   "units",  "inch",   "inches",  "foot",    "feet",    "ft",
                                              "yard",   "yards",  "mile",   "miles",   "mph",     "meter",   "meters",
                                              "metre",  "metres", "gram",   "grams",   "liter",   "liters",  "litre",
                                              "litres", "l",      "ml",     "degree",  "degrees", "percent", "square",
                                              "sq",     "cubic",  "points", "point",   "people",  "items",   "times"};
  return units;
}

// Drops trailing unit words: any words after a plain number ("18 eggs"), and known
// units after anything ("5\sqrt{2} cm", "3 m^2").
std::string strip_units(std::string s) {
  for (int round = 0; round < 4; ++round) {
    std::string t = trim(s);
    std::size_t end = t.size();
    // Optional ^2 / ^{3} after the unit.
    std::size_t p = end;
    if (p >= 2 && std::isdigit(static_cast<unsigned char>(t[p - 1])) && t[p - 2] == '^')
      p -= 2;
    else if (p >= 4 && t[p - 1] == '}' && std::isdigit(static_cast<unsigned char>(t[p - 2])) && t[p - 3] == '{' &&
             t[p - 4] == '^')
      p -= 4;
    std::size_t q = p;
    while (q > 0 && std::isalpha(static_cast<unsigned char>(t[q - 1]))) --q;
    if (q == p || q == 0) return t;
    if (t[q - 1] == '\\') return t;  // a command such as \pi
    std::string word = t.substr(q, p - q);
    std::string lower = word;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    std::string rest = trim(t.substr(0, q));
    if (rest.empty()) return t;
    bool after_space = q > 0 && (t[q - 1] == ' ');
    bool known = unit_words().count(lower) != 0;
    std::string rest_number = rest;
    while (!rest_number.empty() && !std::isdigit(static_cast<unsigned char>(rest_number.back())) &&
           rest_number.back() != '}' && rest_number.back() != ')')
      rest_number.pop_back();
    // A single letter that is not a known unit ("2 x") is a variable, not a unit word.
    if ((after_space && ((is_plain_number(rest) && word.size() >= 2) || known)) ||
        (!after_space && known && word.size() >= 2 && is_plain_number(rest))) {
      s = rest;
      continue;
    }
    return t;
  }
  return trim(s);
}

// "\frac12" -> "\frac{1}{2}", "\sqrt2" -> "\sqrt{2}".
void brace_short_arguments(std::string& s) {
  for (const std::string cmd : {"\\frac", "\\sqrt"}) {
    std::size_t pos = 0;
    while ((pos = s.find(cmd, pos)) != std::string::npos) {
      std::size_t i = pos + cmd.size();
      int args = cmd == "\\frac" ? 2 : 1;
      for (int a = 0; a < args && i < s.size(); ++a) {
        if (s[i] == '{') {
          std::size_t close = matching_brace(s, i);
          if (close == std::string::npos) break;
          i = close + 1;
        } else if (std::isdigit(static_cast<unsigned char>(s[i])) || std::isalpha(static_cast<unsigned char>(s[i]))) {
          s.insert(i + 1, "}");
          s.insert(i, "{");
          i += 3;
        } else {
          break;
        }
      }
      pos += cmd.size();
    }
  }
}

bool is_integer_literal(const std::string& s) {
  std::size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
  if (i >= s.size()) return false;
  for (; i < s.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

std::string strip_leading_zeros(const std::string& s) {
  bool neg = !s.empty() && s[0] == '-';
  std::string digits = s.substr(neg ? 1 : 0);
  std::size_t nz = digits.find_first_not_of('0');
  digits = nz == std::string::npos ? "0" : digits.substr(nz);
  return (neg && digits != "0" ? "-" : "") + digits;
}

// A bracketed or bare comma-separated sequence at the top level.
struct Sequence {
  std::string open, close;  // "" for a bare list
  std::vector<std::string> items;
};

std::optional<Sequence> split_sequence(const std::string& s) {
  Sequence seq;
  std::string body = s;
  auto try_brackets = [&](const std::string& o, const std::string& c) {
    if (body.size() >= o.size() + c.size() && body.compare(0, o.size(), o) == 0 &&
        body.compare(body.size() - c.size(), c.size(), c) == 0) {
      // The opening bracket must close at the very end.
      int depth = 0;
      for (std::size_t i = 0; i < body.size(); ++i) {
        char ch = body[i];
        if (ch == '(' || ch == '[' || ch == '{') ++depth;
        if (ch == ')' || ch == ']' || ch == '}') --depth;
        if (depth == 0 && i + c.size() < body.size() && i >= o.size() - 1) {
          // Closed early: "(1)+(2)" is not a sequence. Interval brackets may mismatch
          // ("[0,1)"), so only check when both ends are the same kind.
          if (o == "(" && c == ")") return false;
        }
      }
      seq.open = o;
      seq.close = c;
      body = body.substr(o.size(), body.size() - o.size() - c.size());
      return true;
    }
    return false;
  };
  bool bracketed = try_brackets("\\{", "\\}");
  for (const char* o : {"(", "["})
    for (const char* c : {")", "]"})
      if (!bracketed) bracketed = try_brackets(o, c);
  std::vector<std::string> items;
  int depth = 0;
  std::string cur;
  for (char ch : body) {
    if (ch == '(' || ch == '[' || ch == '{') ++depth;
    if (ch == ')' || ch == ']' || ch == '}') --depth;
    if (ch == ',' && depth == 0) {
      items.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  items.push_back(cur);
  if (items.size() < 2) return std::nullopt;
  seq.items = items;
  return seq;
}

std::string number_key(double v) {
  if (v == 0.0) v = 0.0;  // -0 -> 0
  return fmt::format("{:.10g}", v);
}

// The checker's one numeric tolerance: |a-b| <= tol * max(|a|,|b|), or |a-b| <= 1e-12 (a
// floor for values at or near zero).
bool numbers_close(double a, double b, double relative_tolerance) {
  double diff = std::fabs(a - b);
  double scale = std::max(std::fabs(a), std::fabs(b));
  return diff <= relative_tolerance * scale || diff <= 1e-12;
}

bool is_word(const std::string& s) {
  return s.size() >= 2 && std::all_of(s.begin(), s.end(), [](unsigned char ch) { return std::isalpha(ch); });
}

// Expressions with free variables are compared at kPoints fixed points (no clock, no
// random device: the same answer pair always gets the same verdict). A point where
// either side is undefined or not finite (\sqrt{x} at x < 0, 1/(x-1) at x = 1) is
// skipped; equality needs kMinDefinedPoints points where both are defined, and agreement
// at all of them.
constexpr int kPoints = 8;
constexpr int kMinDefinedPoints = 3;

std::uint64_t splitmix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The value of variable `name` (number `index` in the sorted list of the expression's
// variables) at point k: a magnitude in [0.5, 2.5), hashed from the name and k (so it is
// the same on every platform: no std::*_distribution), away from 0 where 1/x blows up, and
// in practice never a small integer, where distinct expressions coincide more often.
// Points 0-3 have every variable positive (the domain of \sqrt{x}, \ln x); point 4 every
// variable negative, points 5 and 6 alternate signs, point 7 has hashed signs, so that |x|
// and x, or \sqrt{x^2} and x, differ.
double point_value(int k, std::size_t index, const std::string& name) {
  std::uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a of the name
  for (unsigned char ch : name) h = (h ^ ch) * 0x100000001B3ull;
  h = splitmix64(h ^ splitmix64(static_cast<std::uint64_t>(k)));
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;  // [0, 1)
  const double magnitude = 0.5 + 2.0 * u;
  bool negative = false;
  if (k == 4) negative = true;
  if (k == 5) negative = index % 2 == 0;
  if (k == 6) negative = index % 2 == 1;
  if (k == 7) negative = (h & 1) != 0;
  return negative ? -magnitude : magnitude;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out + "}";
}

// Two expressions with free variables (nullopt when either is not a well-formed
// expression or has none: the caller then compares as text). Equal when both use the same
// variables and agree at every point where both are finite, with at least
// kMinDefinedPoints such points. The tolerance is the one numeric answers use
// (options.relative_tolerance, default 1e-6): a true identity evaluated in double precision
// at points of magnitude ~1 differs by rounding only (~1e-15 relative), far inside it, while
// expressions that are not identical differ at a point by far more than 1e-6 except at
// rare coincidences, which several points all agreeing rule out; and it keeps "x" vs
// "1.0000001x" consistent with "1" vs "1.0000001".
std::optional<MathComparison> compare_at_points(const std::string& c, const std::string& r,
                                                const MathCompareOptions& options) {
  auto c_vars = math_expression_variables(c, nullptr);
  auto r_vars = math_expression_variables(r, nullptr);
  if (!c_vars || !r_vars || c_vars->empty() || r_vars->empty()) return std::nullopt;
  MathComparison out;
  out.candidate_key = c;
  if (*c_vars != *r_vars) {
    out.reason = Reason::WrongAnswer;
    out.detail = fmt::format("'{}' != '{}': variables {} vs {}", c, r, join_names(*c_vars), join_names(*r_vars));
    return out;
  }
  int defined = 0;
  for (int k = 0; k < kPoints; ++k) {
    MathVariableValues values;
    for (std::size_t i = 0; i < c_vars->size(); ++i) values[(*c_vars)[i]] = point_value(k, i, (*c_vars)[i]);
    auto cv = evaluate_math_expression_at(c, values, nullptr);
    auto rv = evaluate_math_expression_at(r, values, nullptr);
    if (!cv || !rv || !std::isfinite(*cv) || !std::isfinite(*rv)) continue;
    ++defined;
    if (!numbers_close(*cv, *rv, options.relative_tolerance)) {
      out.reason = Reason::WrongAnswer;
      out.detail = fmt::format("'{}' != '{}': {} vs {} at point {}", c, r, number_key(*cv), number_key(*rv), k);
      return out;
    }
  }
  if (defined < kMinDefinedPoints) {
    out.reason = Reason::WrongAnswer;
    out.detail = fmt::format("'{}' vs '{}': both defined at {} of {} points ({} needed)", c, r, defined, kPoints,
                             kMinDefinedPoints);
    return out;
  }
  out.equal = true;
  out.reason = Reason::Correct;
  return out;
}

MathComparison compare_scalars(const std::string& c, const std::string& r, const MathCompareOptions& options) {
  MathComparison out;
  std::string c_error, r_error;
  auto cv = evaluate_math_expression(c, &c_error);
  auto rv = evaluate_math_expression(r, &r_error);
  out.candidate_key = cv ? number_key(*cv) : c;
  if (c == r) {
    out.equal = true;
    out.reason = Reason::Correct;
    return out;
  }
  if (is_integer_literal(c) && is_integer_literal(r)) {
    out.equal = strip_leading_zeros(c) == strip_leading_zeros(r);
    out.reason = out.equal ? Reason::Correct : Reason::WrongAnswer;
    if (!out.equal) out.detail = fmt::format("{} != {}", c, r);
    return out;
  }
  if (cv && rv) {
    out.equal = numbers_close(*cv, *rv, options.relative_tolerance);
    out.reason = out.equal ? Reason::Correct : Reason::WrongAnswer;
    if (!out.equal) out.detail = fmt::format("{} != {}", number_key(*cv), number_key(*rv));
    return out;
  }
  // Text answers: compare case-insensitively.
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), ::tolower);
    return s;
  };
  if (!rv && !cv && lower(c) == lower(r)) {
    out.equal = true;
    out.reason = Reason::Correct;
    out.candidate_key = lower(c);
    return out;
  }
  // Expressions with free variables, by evaluation at points; not two bare words ("no" vs
  // "on" would agree as products of letters): those stay text.
  if (!rv && !cv && !(is_word(c) && is_word(r))) {
    if (auto at_points = compare_at_points(c, r, options)) return *at_points;
  }
  if (rv && !cv) {
    out.reason = Reason::Unparsable;
    out.detail = fmt::format("'{}' is not a number: {}", c, c_error);
    return out;
  }
  out.reason = Reason::WrongAnswer;
  out.detail = fmt::format("'{}' != '{}'", c, r);
  return out;
}

}  // namespace

std::optional<std::string> last_boxed(const std::string& text) {
  std::size_t best = std::string::npos;
  std::size_t len = 0;
  for (const char* cmd : {"\\boxed", "\\fbox"}) {
    std::size_t pos = text.rfind(cmd);
    while (pos != std::string::npos) {
      std::size_t after = pos + std::strlen(cmd);
      std::size_t j = after;
      while (j < text.size() && text[j] == ' ') ++j;
      if (j < text.size() && text[j] == '{') {
        if (best == std::string::npos || pos > best) {
          best = pos;
          len = std::strlen(cmd);
        }
        break;
      }
      if (pos == 0) break;
      pos = text.rfind(cmd, pos - 1);
    }
  }
  if (best == std::string::npos) return std::nullopt;
  std::size_t open = text.find('{', best + len);
  std::size_t close = matching_brace(text, open);
  if (close == std::string::npos) return std::nullopt;
  return text.substr(open + 1, close - open - 1);
}

std::optional<std::string> extract_answer(const std::string& response) {
  if (auto boxed = last_boxed(response)) return boxed;
  // The last "Answer:" line (case-insensitive), else the last "####" line.
  std::optional<std::string> answer_line, hash_line;
  std::size_t start = 0;
  while (start <= response.size()) {
    std::size_t end = response.find('\n', start);
    if (end == std::string::npos) end = response.size();
    std::string line = trim(response.substr(start, end - start));
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    for (const std::string prefix : {"final answer:", "answer:"}) {
      std::size_t at = lower.find(prefix);
      if (at != std::string::npos) {
        answer_line = trim(line.substr(at + prefix.size()));
        break;
      }
    }
    if (line.rfind("####", 0) == 0) hash_line = trim(line.substr(4));
    start = end + 1;
  }
  if (answer_line && !answer_line->empty()) return answer_line;
  if (hash_line && !hash_line->empty()) return hash_line;
  return std::nullopt;
}

std::string normalize_answer(const std::string& answer) {
  std::string s = trim(answer);
  // Math delimiters.
  replace_all(s, "\\(", "");
  replace_all(s, "\\)", "");
  replace_all(s, "\\[", "");
  replace_all(s, "\\]", "");
  replace_all(s, "\\$", "");
  replace_all(s, "$", "");
  replace_command(s, "\\displaystyle", "");
  replace_command(s, "\\left", "");
  replace_command(s, "\\right", "");
  replace_command(s, "\\dfrac", "\\frac");
  replace_command(s, "\\tfrac", "\\frac");
  replace_command(s, "\\bigl", "");
  replace_command(s, "\\bigr", "");
  replace_all(s, "\xE2\x88\x92", "-");  // the Unicode minus sign
  unwrap_commands(s, {"\\boxed", "\\fbox", "\\text", "\\textbf", "\\textit", "\\mathrm", "\\mathbf", "\\mbox",
                      "\\operatorname"});
  // Degrees and percent.
  replace_all(s, "^{\\circ}", "");
  replace_all(s, "^\\circ", "");
  replace_all(s, "\xC2\xB0", "");  // the degree sign
  replace_command(s, "\\degree", "");
  replace_command(s, "\\circ", "");
  replace_all(s, "\\%", "");
  replace_all(s, "%", "");
  // LaTeX spacing.
  replace_all(s, "\\,", " ");
  replace_all(s, "\\!", "");
  replace_all(s, "\\;", " ");
  replace_all(s, "\\:", " ");
  replace_all(s, "\\ ", " ");
  replace_all(s, "~", " ");
  replace_all(s, "{,}", ",");
  s = trim(s);
  while (!s.empty() && s.back() == '.') s = trim(s.substr(0, s.size() - 1));
  // Mixed numbers written with a space: "3 1/2" -> "3\frac{1}{2}".
  {
    std::size_t sp = s.find(' ');
    std::size_t slash = s.find('/');
    if (sp != std::string::npos && slash != std::string::npos && slash > sp &&
        s.find(' ', sp + 1) == std::string::npos) {
      std::string whole = s.substr(0, sp), num = s.substr(sp + 1, slash - sp - 1), den = s.substr(slash + 1);
      if (is_integer_literal(whole) && is_integer_literal(num) && is_integer_literal(den) && num[0] != '-' &&
          den[0] != '-')
        s = whole + "\\frac{" + num + "}{" + den + "}";
    }
  }
  s = strip_units(s);
  // Remove all whitespace.
  s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }), s.end());
  while (!s.empty() && s.back() == '.') s.pop_back();
  // Leading "x=" (a single variable or a command such as \theta), when there is one '='.
  if (std::count(s.begin(), s.end(), '=') == 1) {
    std::size_t eq = s.find('=');
    std::string lhs = s.substr(0, eq);
    bool variable = (lhs.size() == 1 && std::isalpha(static_cast<unsigned char>(lhs[0]))) ||
                    (lhs.size() > 1 && lhs[0] == '\\' &&
                     std::all_of(lhs.begin() + 1, lhs.end(), [](unsigned char c) { return std::isalpha(c); })) ||
                    (lhs.size() >= 3 && std::isalpha(static_cast<unsigned char>(lhs[0])) && lhs[1] == '_');
    if (variable) s = s.substr(eq + 1);
  }
  brace_short_arguments(s);
  // "^{2}" -> "^2": a braced single-character exponent has one spelling.
  for (std::size_t pos = 0; (pos = s.find("^{", pos)) != std::string::npos; ++pos)
    if (pos + 3 < s.size() && s[pos + 3] == '}' && s[pos + 2] != '\\') s.erase(pos + 3, 1), s.erase(pos + 1, 1);
  // Thousands separators: the whole answer is a grouped number such as 1,234,567.5.
  {
    std::string t = s;
    bool neg = !t.empty() && t[0] == '-';
    if (neg) t = t.substr(1);
    std::size_t dot = t.find('.');
    std::string int_part = t.substr(0, dot);
    bool grouped = int_part.find(',') != std::string::npos;
    if (grouped) {
      std::size_t first = int_part.find(',');
      grouped = first >= 1 && first <= 3;
      for (std::size_t i = first; grouped && i < int_part.size(); i += 4)
        grouped = int_part[i] == ',' && i + 3 < int_part.size() + 0 &&
                  std::all_of(int_part.begin() + i + 1, int_part.begin() + i + 4,
                              [](unsigned char c) { return std::isdigit(c); }) &&
                  (i + 4 == int_part.size() || int_part[i + 4] == ',');
      grouped = grouped && std::all_of(int_part.begin(), int_part.begin() + first,
                                       [](unsigned char c) { return std::isdigit(c); });
      if (dot != std::string::npos)
        grouped = grouped && std::all_of(t.begin() + dot + 1, t.end(), [](unsigned char c) { return std::isdigit(c); });
    }
    if (grouped) {
      t.erase(std::remove(t.begin(), t.end(), ','), t.end());
      s = (neg ? "-" : "") + t;
    }
  }
  return s;
}

MathComparison compare_answers(const std::string& candidate, const std::string& reference,
                               const MathCompareOptions& options) {
  const std::string c = normalize_answer(candidate);
  const std::string r = normalize_answer(reference);
  MathComparison out;
  if (c.empty()) {
    out.reason = Reason::Unparsable;
    out.detail = "empty answer";
    return out;
  }
  auto cs = split_sequence(c);
  auto rs = split_sequence(r);
  if (cs || rs) {
    if (!cs || !rs) {
      if (c == r) {
        out.equal = true;
        out.reason = Reason::Correct;
        out.candidate_key = c;
        return out;
      }
      out.reason = Reason::WrongAnswer;
      out.detail = cs ? "a sequence where a single value is expected" : "a single value where a sequence is expected";
      out.candidate_key = c;
      return out;
    }
    if (cs->items.size() != rs->items.size()) {
      out.reason = Reason::WrongAnswer;
      out.detail = fmt::format("{} elements, expected {}", cs->items.size(), rs->items.size());
      out.candidate_key = c;
      return out;
    }
    auto open_kind = [](const std::string& b) { return b.empty() ? std::string("(") : b; };
    auto close_kind = [](const std::string& b) { return b.empty() ? std::string(")") : b; };
    if (options.strict_brackets &&
        (open_kind(cs->open) != open_kind(rs->open) || close_kind(cs->close) != close_kind(rs->close))) {
      out.reason = Reason::WrongAnswer;
      out.detail = fmt::format("brackets {}..{} differ from {}..{}", cs->open, cs->close, rs->open, rs->close);
      out.candidate_key = c;
      return out;
    }
    std::string key = open_kind(cs->open);
    for (std::size_t i = 0; i < cs->items.size(); ++i) {
      MathComparison e = compare_scalars(cs->items[i], rs->items[i], options);
      key += (i ? "," : "") + e.candidate_key;
      if (!e.equal) {
        out.reason = e.reason;
        out.detail = fmt::format("element {}: {}", i + 1, e.detail);
        out.candidate_key = key;
        return out;
      }
    }
    out.equal = true;
    out.reason = Reason::Correct;
    out.candidate_key = key + close_kind(cs->close);
    return out;
  }
  return compare_scalars(c, r, options);
}

}  // namespace disa::tasks
