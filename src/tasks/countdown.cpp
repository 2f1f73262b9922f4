// countdown: expression parsing, canonical printing and keys, exhaustive enumeration of
// the expression trees over sub-multisets of the numbers, deterministic generation.
#include "disa/tasks/countdown.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "disa/core/error.hpp"

namespace disa::tasks {

namespace {

int precedence(char op) { return op == '*' ? 2 : 1; }

// Does `child` (with operator child_op, 0 for a number) need parentheses as the
// left/right operand of `op` for the printed string to parse back to the same tree?
bool needs_parens(char op, char child_op, bool right) {
  if (child_op == 0) return false;
  if (!right) return precedence(child_op) < precedence(op);
  // Right operand: same or lower precedence needs parentheses (left associativity).
  return precedence(child_op) <= precedence(op);
}

std::string combine(const std::string& l, char lop, char op, const std::string& r, char rop) {
  std::string out;
  if (needs_parens(op, lop, false))
    out += "(" + l + ")";
  else
    out += l;
  out += op;
  if (needs_parens(op, rop, true))
    out += "(" + r + ")";
  else
    out += r;
  return out;
}

int64_t apply(char op, int64_t a, int64_t b) {
  switch (op) {
    case '+': return a + b;
    case '-': return a - b;
    default: return a * b;
  }
}

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}
  std::optional<CountdownExpr> parse(std::string* error) {
    auto e = sum();
    if (e && pos_ != s_.size()) {
      fail(fmt::format("unexpected '{}' at position {}", s_[pos_], pos_));
      e.reset();
    }
    if (!e && error) *error = error_;
    return e;
  }

 private:
  void fail(const std::string& msg) {
    if (error_.empty()) error_ = msg;
  }
  std::optional<CountdownExpr> sum() {
    auto left = product();
    while (left && pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) {
      char op = s_[pos_++];
      auto right = product();
      if (!right) return std::nullopt;
      CountdownExpr node;
      node.op = op;
      node.children = {std::move(*left), std::move(*right)};
      left = std::move(node);
    }
    return left;
  }
  std::optional<CountdownExpr> product() {
    auto left = atom();
    while (left && pos_ < s_.size() && s_[pos_] == '*') {
      ++pos_;
      auto right = atom();
      if (!right) return std::nullopt;
      CountdownExpr node;
      node.op = '*';
      node.children = {std::move(*left), std::move(*right)};
      left = std::move(node);
    }
    return left;
  }
  std::optional<CountdownExpr> atom() {
    if (++depth_ > 64) {
      fail("nested too deeply");
      return std::nullopt;
    }
    if (pos_ >= s_.size()) {
      fail("unexpected end of expression");
      return std::nullopt;
    }
    if (s_[pos_] == '(') {
      ++pos_;
      auto e = sum();
      if (!e) return std::nullopt;
      if (pos_ >= s_.size() || s_[pos_] != ')') {
        fail(fmt::format("missing ')' at position {}", pos_));
        return std::nullopt;
      }
      ++pos_;
      --depth_;
      return e;
    }
    if (!std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      fail(fmt::format("unexpected '{}' at position {}", s_[pos_], pos_));
      return std::nullopt;
    }
    int64_t v = 0;
    std::size_t start = pos_;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      if (pos_ - start >= 12) {
        fail("number too long");
        return std::nullopt;
      }
      v = v * 10 + (s_[pos_++] - '0');
    }
    CountdownExpr leaf;
    leaf.number = v;
    --depth_;
    return leaf;
  }

  const std::string& s_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  std::string error_;
};

void collect_terms(const CountdownExpr& e, bool negative, std::vector<std::string>& terms) {
  if (e.op == '+' || e.op == '-') {
    collect_terms(e.children[0], negative, terms);
    collect_terms(e.children[1], e.op == '-' ? !negative : negative, terms);
  } else {
    terms.push_back((negative ? "-" : "+") + e.solution_key());
  }
}

void collect_factors(const CountdownExpr& e, std::vector<std::string>& factors) {
  if (e.op == '*') {
    collect_factors(e.children[0], factors);
    collect_factors(e.children[1], factors);
  } else {
    factors.push_back(e.solution_key());
  }
}

std::vector<int64_t> parse_numbers(const Record& record) {
  std::istringstream in(record.text("numbers"));
  std::vector<int64_t> numbers;
  std::string tok;
  while (in >> tok) {
    DISA_CHECK(!tok.empty() && tok.size() < 10 &&
                   std::all_of(tok.begin(), tok.end(), [](char c) { return std::isdigit(c); }),
               DataError,
               "record '{}': field 'numbers' must be positive integers separated "
               "by spaces (got '{}')",
               record.id, record.text("numbers"));
    numbers.push_back(std::stoll(tok));
  }
  DISA_CHECK(!numbers.empty() && numbers.size() <= 6, DataError,
             "record '{}': field 'numbers' must hold 1 to 6 numbers (got {})", record.id, numbers.size());
  return numbers;
}

int64_t parse_target(const Record& record) {
  std::string t = record.text("target");
  try {
    std::size_t used = 0;
    long long v = std::stoll(t, &used);
    if (used == t.size()) return v;
  } catch (const std::exception&) {
  }
  DISA_THROW(DataError, "record '{}': field 'target' must be an integer (got '{}')", record.id, t);
}

struct Item {
  int64_t value;
  std::string text;
  char op;
};

// All canonical expressions over every non-empty subset of the operands (by index).
std::map<unsigned, std::vector<Item>> all_items(const std::vector<int64_t>& numbers) {
  const unsigned n = static_cast<unsigned>(numbers.size());
  std::map<unsigned, std::vector<Item>> memo;
  for (unsigned mask = 1; mask < (1u << n); ++mask) {
    std::vector<Item> items;
    if ((mask & (mask - 1)) == 0) {
      unsigned i = static_cast<unsigned>(__builtin_ctz(mask));
      items.push_back({numbers[i], std::to_string(numbers[i]), 0});
    } else {
      for (unsigned a = (mask - 1) & mask; a > 0; a = (a - 1) & mask) {
        unsigned b = mask ^ a;
        for (const Item& l : memo[a])
          for (const Item& r : memo[b])
            for (char op : {'+', '-', '*'})
              items.push_back({apply(op, l.value, r.value), combine(l.text, l.op, op, r.text, r.op), op});
      }
    }
    memo[mask] = std::move(items);
  }
  return memo;
}

}  // namespace

int64_t CountdownExpr::value() const {
  if (op == 0) return number;
  return apply(op, children[0].value(), children[1].value());
}

std::string CountdownExpr::canonical_text() const {
  if (op == 0) return std::to_string(number);
  return combine(children[0].canonical_text(), children[0].op, op, children[1].canonical_text(), children[1].op);
}

std::string CountdownExpr::solution_key() const {
  if (op == 0) return std::to_string(number);
  std::vector<std::string> parts;
  std::string out;
  if (op == '*') {
    collect_factors(*this, parts);
    std::sort(parts.begin(), parts.end());
    out = "*(";
  } else {
    collect_terms(*this, false, parts);
    std::sort(parts.begin(), parts.end());
    out = "+(";
  }
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "," : "") + parts[i];
  return out + ")";
}

void CountdownExpr::collect_numbers(std::vector<int64_t>& out) const {
  if (op == 0) {
    out.push_back(number);
    return;
  }
  for (const auto& c : children) c.collect_numbers(out);
}

std::optional<CountdownExpr> parse_countdown(const std::string& text, std::string* error) {
  return Parser(text).parse(error);
}

std::vector<std::string> countdown_expressions(const std::vector<int64_t>& numbers, int64_t target) {
  DISA_CHECK(numbers.size() <= 6, DataError, "countdown: at most 6 numbers (got {})", numbers.size());
  std::set<std::string> found;
  for (const auto& [mask, items] : all_items(numbers))
    for (const Item& it : items)
      if (it.value == target) found.insert(it.text);
  return {found.begin(), found.end()};
}

CountdownTask::CountdownTask(TaskOptions options) : options_(std::move(options)) {
  DISA_CHECK(options_.countdown_operands >= 2 && options_.countdown_operands <= 5, ConfigError,
             "option --task.countdown-operands: must be 2..5 (got {})", options_.countdown_operands);
  DISA_CHECK(options_.countdown_max_number >= 1 && options_.countdown_max_number <= 100, ConfigError,
             "option --task.countdown-max-number: must be 1..100 (got {})", options_.countdown_max_number);
}

Dataset CountdownTask::make_dataset() const {
  const TaskOptions& o = options_;
  return draw_synthetic_dataset(
      o, "countdown", "countdown", fmt::format("{} operands up to {}", o.countdown_operands, o.countdown_max_number),
      [&o](Rng& rng) -> std::optional<SyntheticCandidate> {
        std::vector<int64_t> numbers;
        for (int i = 0; i < o.countdown_operands; ++i) numbers.push_back(rng.uniform_int(1, o.countdown_max_number));
        // Target: the value of a random expression over all the numbers.
        std::vector<std::pair<int64_t, char>> pool;
        for (int64_t v : numbers) pool.push_back({v, 0});
        while (pool.size() > 1) {
          std::size_t i = static_cast<std::size_t>(rng.uniform_int(0, pool.size() - 1));
          auto a = pool[i];
          pool.erase(pool.begin() + i);
          std::size_t j = static_cast<std::size_t>(rng.uniform_int(0, pool.size() - 1));
          auto b = pool[j];
          pool.erase(pool.begin() + j);
          char op = "+-*"[rng.uniform_int(0, 2)];
          pool.push_back({apply(op, a.first, b.first), op});
        }
        const int64_t target = pool[0].first;
        if (target < 1 || target > 999) return std::nullopt;
        std::vector<int64_t> sorted = numbers;
        std::sort(sorted.begin(), sorted.end());
        std::string key;
        for (int64_t v : sorted) key += std::to_string(v) + " ";
        key += "-> " + std::to_string(target);
        std::string numbers_text;
        for (std::size_t i = 0; i < numbers.size(); ++i) numbers_text += (i ? " " : "") + std::to_string(numbers[i]);
        return SyntheticCandidate{key,
                                  {{"numbers", numbers_text}, {"target", std::to_string(target)}},
                                  [numbers, target] { return int(countdown_expressions(numbers, target).size()); }};
      });
}

std::string CountdownTask::render_prompt(const Record& record) const {
  return render_template(options_.prompt_template.empty() ? kDefaultTemplate : options_.prompt_template, record);
}

RewardResult CountdownTask::reward(const Record& record, const std::string& response) const {
  const auto numbers = parse_numbers(record);
  const int64_t target = parse_target(record);
  if (auto screened = screen_response(response, options_.response_limits)) return *screened;
  RewardResult r;
  if (response.empty() || response.back() != '\n') {
    r.reason = Reason::Unterminated;
    r.detail = "the expression must end with a newline";
    return r;
  }
  const std::string body = response.substr(0, response.size() - 1);
  std::string error;
  auto expr = parse_countdown(body, &error);
  if (!expr) {
    r.reason = Reason::Unparsable;
    r.detail = error;
    return r;
  }
  r.canonical_key = expr->solution_key();
  const std::string canonical = expr->canonical_text();
  if (canonical != body) {
    r.reason = Reason::Unparsable;
    r.detail = fmt::format("not in canonical form (write '{}')", canonical);
    return r;
  }
  std::vector<int64_t> used;
  expr->collect_numbers(used);
  std::multiset<int64_t> available(numbers.begin(), numbers.end());
  for (int64_t v : used) {
    auto it = available.find(v);
    if (it == available.end()) {
      r.reason = Reason::RuleViolation;
      r.detail = fmt::format("{} is not available (or used too often)", v);
      return r;
    }
    available.erase(it);
  }
  const int64_t value = expr->value();
  if (value != target) {
    r.reason = Reason::WrongAnswer;
    r.detail = fmt::format("value {} is not the target {}", value, target);
    return r;
  }
  r.reward = 1.0;
  r.reason = Reason::Correct;
  return r;
}

std::optional<std::vector<std::string>> CountdownTask::enumerate_solutions(const Record& record) const {
  auto exprs = countdown_expressions(parse_numbers(record), parse_target(record));
  for (auto& e : exprs) e += "\n";
  std::sort(exprs.begin(), exprs.end());
  return exprs;
}

}  // namespace disa::tasks
