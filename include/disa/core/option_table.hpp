// One declaration per option. A command's settings are a plain struct whose member
// initialisers are the defaults; an OptionTable over that struct binds each option to
// its field, with the help text and the validation rule, in one line:
//
//   OptionTable<Settings> t;
//   t.integer("anchor.samples", DISA_FIELD(samples), "proposal samples per prompt",
//             at_least<int64_t>(1, "samples per prompt, N"));
//
// From that one table, `declare` adds the options (the default printed by --help and
// --print-config is the field's initial value), and `read` fills a settings struct
// from a resolved Config, throwing ConfigError "option --NAME: MESSAGE (got VALUE)" for
// the first value a rule refuses. Checks that relate several options run after every
// field is read (`check`).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "disa/core/config.hpp"

// The field of a settings struct an option fills, as an accessor: DISA_FIELD(seed),
// DISA_FIELD(sampling.top_p). (auto&&: defaults are read from a temporary settings struct.)
#define DISA_FIELD(member) \
  [](auto&& settings_) -> auto& { return settings_.member; }

namespace disa::core {

// A value rule: `ok` decides, `message` completes "option --NAME: ...". An empty rule
// accepts everything.
template <class T>
struct Rule {
  std::function<bool(const T&)> ok;
  std::string message;
};

namespace option_rules_detail {
inline std::string with_note(std::string message, const std::string& note) {
  return note.empty() ? message : message + " (" + note + ")";
}
}  // namespace option_rules_detail

template <class T>
Rule<T> at_least(T min, const std::string& note = {}) {
  return {[min](const T& v) { return v >= min; },
          option_rules_detail::with_note(fmt::format("must be >= {}", min), note)};
}
template <class T>
Rule<T> above(T min, const std::string& note = {}) {
  return {[min](const T& v) { return v > min; },
          option_rules_detail::with_note(fmt::format("must be > {}", min), note)};
}
// lo <= v <= hi.
template <class T>
Rule<T> within(T lo, T hi, const std::string& note = {}) {
  return {[lo, hi](const T& v) { return v >= lo && v <= hi; },
          option_rules_detail::with_note(fmt::format("must lie in [{}, {}]", lo, hi), note)};
}
// lo < v <= hi.
inline Rule<double> above_up_to(double lo, double hi) {
  return {[lo, hi](const double& v) { return v > lo && v <= hi; }, fmt::format("must lie in ({}, {}]", lo, hi)};
}
inline Rule<std::string> required(const std::string& what) {
  return {[](const std::string& v) { return !v.empty(); }, "is required (" + what + ")"};
}

template <class S>
class OptionTable {
 public:
  template <class F>
  OptionTable& text(const std::string& name, F field, const std::string& help, Rule<std::string> rule = {}) {
    entries_.push_back({name, help,
                        [name, help, def = default_of(field)](Options& o) { o.add_string(name, def, help); },
                        [name, field, rule](S& s, const Config& c) {
                          field(s) = c.get_string(name);
                          apply(rule, c, name, field(s));
                        }});
    return *this;
  }

  // An integer option; the field may be any integer type, and a value it cannot hold
  // (a negative one for an unsigned field) is refused.
  template <class F>
  OptionTable& integer(const std::string& name, F field, const std::string& help, Rule<int64_t> rule = {}) {
    using T = std::decay_t<decltype(field(std::declval<S&>()))>;
    static_assert(std::is_integral_v<T>, "integer(): the field must be an integer");
    entries_.push_back(
        {name, help, [name, help, def = int64_t(default_of(field))](Options& o) { o.add_int(name, def, help); },
         [name, field, rule](S& s, const Config& c) {
           const int64_t v = c.get_int(name);
           apply(rule, c, name, v);
           const bool fits = std::is_unsigned_v<T> ? v >= 0 && uint64_t(v) <= uint64_t(std::numeric_limits<T>::max())
                                                   : v >= int64_t(std::numeric_limits<T>::min()) &&
                                                         v <= int64_t(std::numeric_limits<T>::max());
           c.require(fits, name, std::is_unsigned_v<T> ? "must be >= 0" : "is out of range");
           field(s) = T(v);
         }});
    return *this;
  }

  template <class F>
  OptionTable& real(const std::string& name, F field, const std::string& help, Rule<double> rule = {}) {
    entries_.push_back({name, help,
                        [name, help, def = default_of(field)](Options& o) { o.add_double(name, def, help); },
                        [name, field, rule](S& s, const Config& c) {
                          field(s) = c.get_double(name);
                          apply(rule, c, name, field(s));
                        }});
    return *this;
  }

  template <class F>
  OptionTable& flag(const std::string& name, F field, const std::string& help) {
    entries_.push_back({name, help, [name, help, def = default_of(field)](Options& o) { o.add_bool(name, def, help); },
                        [name, field](S& s, const Config& c) { field(s) = c.get_bool(name); }});
    return *this;
  }

  // A repeatable option; the field is a vector of strings. An option given no value
  // keeps the field's initial value.
  template <class F>
  OptionTable& list(const std::string& name, F field, const std::string& help) {
    entries_.push_back({name, help, [name, help](Options& o) { o.add_list(name, help); },
                        [name, field](S& s, const Config& c) {
                          auto v = c.get_list(name);
                          if (!v.empty()) field(s) = std::move(v);
                        }});
    return *this;
  }

  // A word from a fixed set, stored as the value it names. The default is the word of
  // the field's initial value.
  template <class F, class V>
  OptionTable& choice(const std::string& name, F field, std::vector<std::pair<std::string, V>> words,
                      const std::string& help) {
    std::string spelled;
    for (size_t i = 0; i < words.size(); ++i)
      spelled += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i].first;
    entries_.push_back({name, help,
                        [name, field, words, help](Options& o) {
                          const V initial = default_of(field);
                          std::string word;
                          for (const auto& [w, v] : words)
                            if (v == initial && word.empty()) word = w;
                          o.add_string(name, word, help);
                        },
                        [name, field, words, spelled](S& s, const Config& c) {
                          const std::string got = c.get_string(name);
                          for (const auto& [w, v] : words)
                            if (w == got) {
                              field(s) = v;
                              return;
                            }
                          c.require(false, name, "must be " + spelled);
                        }});
    return *this;
  }

  // The options of another table, filling the member `field` of this struct.
  template <class F, class T>
  OptionTable& include(F field, const OptionTable<T>& inner) {
    entries_.push_back({"", "", [inner](Options& o) { inner.declare(o); },
                        [field, inner](S& s, const Config& c) { inner.read_into(field(s), c); }});
    return *this;
  }

  // A rule over several fields, checked after all are read; `name` is the option the
  // error names.
  OptionTable& check(const std::string& name, std::function<bool(const S&)> ok, const std::string& message) {
    checks_.push_back({name, std::move(ok), message});
    return *this;
  }

  void declare(Options& options) const {
    for (const auto& e : entries_) e.declare(options);
  }
  void read_into(S& s, const Config& c) const {
    for (const auto& e : entries_) e.read(s, c);
    for (const auto& k : checks_) c.require(k.ok(s), k.name, k.message);
  }
  S read(const Config& c) const {
    S s = initial();
    read_into(s, c);
    return s;
  }

 private:
  // The settings' initial values: the defaults. Made once, out of line: GCC 12 warns
  // falsely (-Wmaybe-uninitialized) about the strings of an inlined settings struct.
  [[gnu::noinline]] static const S& initial() {
    static const S s;
    return s;
  }
  template <class F>
  static auto default_of(F field) {
    return std::decay_t<decltype(field(initial()))>(field(initial()));
  }
  template <class T>
  static void apply(const Rule<T>& rule, const Config& c, const std::string& name, const T& v) {
    if (rule.ok) c.require(rule.ok(v), name, rule.message);
  }
  struct Entry {
    std::string name, help;
    std::function<void(Options&)> declare;
    std::function<void(S&, const Config&)> read;
  };
  struct Check {
    std::string name;
    std::function<bool(const S&)> ok;
    std::string message;
  };
  std::vector<Entry> entries_;
  std::vector<Check> checks_;
};

}  // namespace disa::core
