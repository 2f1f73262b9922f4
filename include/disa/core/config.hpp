// Configuration of a disa command: typed options with dotted names ("anchor.beta"),
// help texts and defaults, read from an INI file (--config; [section] becomes the
// "section." prefix) and the command line (which wins), printable back as INI
// (--print-config) and stored as provenance in every output file.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "disa/core/error.hpp"

namespace disa::core {

// The options one command accepts. Every option has a dotted name, a help text and a
// default. The global options (--config, --print-config, --help, log.*) are added by
// the constructor.
class Options {
 public:
  // `command` names the subcommand ("anchor"), `summary` is one line for --help.
  Options(std::string command, std::string summary);

  Options& add_string(const std::string& name, const std::string& default_value, const std::string& help);
  Options& add_int(const std::string& name, int64_t default_value, const std::string& help);
  Options& add_double(const std::string& name, double default_value, const std::string& help);
  // A boolean: "--name" alone sets it true; "--name=false" and "name = no" in a file work.
  Options& add_bool(const std::string& name, bool default_value, const std::string& help);
  // A list: repeat "--name a --name b" or the key in the file; default empty.
  Options& add_list(const std::string& name, const std::string& help);
  // A positional argument (after the options), mapped to option `name` (a list).
  Options& add_positional(const std::string& name, const std::string& help, int max_count = -1);

  const std::string& command() const { return command_; }
  const std::string& summary() const { return summary_; }

  enum class Kind { String, Int, Double, Bool, List };
  struct Spec {
    std::string name;
    Kind kind;
    std::string default_text;  // INI form of the default
    std::string help;
    bool positional = false;
  };
  const std::vector<Spec>& specs() const { return specs_; }
  const Spec* find(const std::string& name) const;
  const boost::program_options::options_description& description() const { return desc_; }
  const boost::program_options::positional_options_description& positional() const { return pos_; }
  // Help text: usage line, summary, and every option with its default.
  std::string help_text() const;

 private:
  Options& add_spec(Spec spec);
  std::string command_;
  std::string summary_;
  std::vector<Spec> specs_;
  boost::program_options::options_description desc_;
  boost::program_options::positional_options_description pos_;
};

// The resolved configuration of one run: every option's value and where it came from.
class Config {
 public:
  Config() = default;
  Config(const Options& options, boost::program_options::variables_map vm, std::string config_file);

  const std::string& command() const { return command_; }
  bool has(const std::string& name) const;
  // True when the option was given on the command line or in the file.
  bool is_set(const std::string& name) const;

  std::string get_string(const std::string& name) const;
  int64_t get_int(const std::string& name) const;
  double get_double(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  std::vector<std::string> get_list(const std::string& name) const;

  // Value in INI form ("0.5", "true", lists joined with ", ").
  std::string text(const std::string& name) const;
  // (name, INI text) for every option, in declaration order; lists give one entry.
  std::vector<std::pair<std::string, std::string>> items() const;
  // The whole configuration in INI form: feeding it back with --config reproduces it.
  std::string to_ini() const;
  const std::string& config_file() const { return config_file_; }

  // Throws ConfigError "option --NAME: MESSAGE (got VALUE)" unless `ok`.
  void require(bool ok, const std::string& name, const std::string& message) const;

 private:
  const Options::Spec& spec(const std::string& name) const;
  std::string command_;
  std::vector<Options::Spec> specs_;
  boost::program_options::variables_map vm_;
  std::string config_file_;
};

// What parsing decided: run with `config`, or print help / the configuration and stop.
struct ParseOutcome {
  enum class Action { Run, Help, PrintConfig } action = Action::Run;
  Config config;
};

// Parses argv (argv[0] is the subcommand or program name and is skipped). Precedence:
// default < --config file < command line. Unknown options and sections are errors that
// name them (and the file and line for the INI file).
ParseOutcome parse_options(const Options& options, const std::vector<std::string>& args);

}  // namespace disa::core
