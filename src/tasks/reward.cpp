// Reason names and the response screening shared by every task.
#include "disa/tasks/reward.hpp"

#include <fmt/format.h>

#include "disa/core/error.hpp"

namespace disa::tasks {

namespace {
constexpr Reason kAllReasons[] = {Reason::Correct,    Reason::Partial,  Reason::WrongAnswer,  Reason::RuleViolation,
                                  Reason::Unparsable, Reason::NoAnswer, Reason::Unterminated, Reason::Empty,
                                  Reason::TooLong,    Reason::Binary,   Reason::TestFailed,   Reason::Timeout,
                                  Reason::Memory,     Reason::Crash,    Reason::SandboxError};
}

const char* to_string(Reason reason) {
  switch (reason) {
    case Reason::Correct: return "correct";
    case Reason::Partial: return "partial";
    case Reason::WrongAnswer: return "wrong_answer";
    case Reason::RuleViolation: return "rule_violation";
    case Reason::Unparsable: return "unparsable";
    case Reason::NoAnswer: return "no_answer";
    case Reason::Unterminated: return "unterminated";
    case Reason::Empty: return "empty";
    case Reason::TooLong: return "too_long";
    case Reason::Binary: return "binary";
    case Reason::TestFailed: return "test_failed";
    case Reason::Timeout: return "timeout";
    case Reason::Memory: return "memory";
    case Reason::Crash: return "crash";
    case Reason::SandboxError: return "sandbox_error";
  }
  return "?";
}

std::optional<Reason> reason_from_string(const std::string& name) {
  for (Reason r : kAllReasons)
    if (name == to_string(r)) return r;
  return std::nullopt;
}

const Reason* all_reasons(std::size_t* count) {
  *count = sizeof kAllReasons / sizeof kAllReasons[0];
  return kAllReasons;
}

std::vector<std::string> reason_names() {
  std::vector<std::string> names;
  for (Reason r : kAllReasons) {
    DISA_ASSERT(int(r) == int(names.size()));  // listed in code order
    names.emplace_back(to_string(r));
  }
  return names;
}

bool is_valid_utf8(const std::string& text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size(), i = 0;
  while (i < n) {
    unsigned char c = s[i];
    std::size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values beyond U+10FFFF.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return false;
    i += len;
  }
  return true;
}

std::optional<RewardResult> screen_response(const std::string& response, const ResponseLimits& limits) {
  RewardResult r;
  r.reward = 0.0;
  if (response.size() > limits.max_chars) {
    r.reason = Reason::TooLong;
    r.detail = fmt::format("{} bytes, limit {} (task.max-response-chars)", response.size(), limits.max_chars);
    return r;
  }
  bool blank = true;
  for (unsigned char c : response) {
    if (c == 0 || (c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7F) {
      r.reason = Reason::Binary;
      r.detail = fmt::format("control byte 0x{:02x}", c);
      return r;
    }
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r') blank = false;
  }
  if (blank) {
    r.reason = Reason::Empty;
    r.detail = response.empty() ? "empty response" : "whitespace-only response";
    return r;
  }
  if (!is_valid_utf8(response)) {
    r.reason = Reason::Binary;
    r.detail = "invalid UTF-8";
    return r;
  }
  return std::nullopt;
}

}  // namespace disa::tasks
