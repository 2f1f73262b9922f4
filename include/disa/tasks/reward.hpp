// The verdict of a task on one response: reward in [0, 1], the reason for it, and the
// canonical solution key (responses stating the same solution share it). Also the
// screening every task applies first (empty, enormous or binary responses get 0).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace disa::tasks {

enum class Reason {
  Correct,        // the response is a correct solution (reward 1)
  Partial,        // code: some but not all tests passed (fractional reward)
  WrongAnswer,    // well formed, but not a solution
  RuleViolation,  // well formed, but breaks the task's rules (number reused, no such edge)
  Unparsable,     // the answer could not be parsed in the task's format
  NoAnswer,       // no answer found (no \boxed{}, Answer: or #### line; no code block)
  Unterminated,   // synthetic tasks: the response does not end with the terminator
  Empty,          // empty or whitespace-only response
  TooLong,        // longer than the configured limit
  Binary,         // NUL bytes, control characters or invalid UTF-8
  TestFailed,     // code: a test failed (assertion or wrong output)
  Timeout,        // code: CPU or wall-clock limit hit
  Memory,         // code: address-space limit hit
  Crash,          // code: uncaught exception, non-zero exit or fatal signal
  SandboxError,   // code: the sandbox itself could not run the program
};

// "correct", "wrong_answer", ... (stable names used in files and tables).
const char* to_string(Reason reason);
// Inverse of to_string; nullopt for an unknown name.
std::optional<Reason> reason_from_string(const std::string& name);
// Every reason in declaration order (for per-verdict tables).
const Reason* all_reasons(std::size_t* count);
// to_string of every reason, by code (index i names Reason(i)): the "names" attribute of
// the stored reason columns.
std::vector<std::string> reason_names();

struct RewardResult {
  double reward = 0.0;  // in [0, 1]
  Reason reason = Reason::WrongAnswer;
  std::string canonical_key;  // empty when the response states no parsable solution
  std::string detail;         // human-readable explanation (parser message, test output)
};

// Limits applied to every response before a task looks at it.
struct ResponseLimits {
  std::size_t max_chars = 16384;
};

// Returns a zero-reward result when the response is empty (or only whitespace), longer
// than the limit, or binary (NUL, control characters other than \t \n \r, invalid
// UTF-8); nullopt when the task should score it.
std::optional<RewardResult> screen_response(const std::string& response, const ResponseLimits& limits);

// True when `text` is valid UTF-8.
bool is_valid_utf8(const std::string& text);

}  // namespace disa::tasks
