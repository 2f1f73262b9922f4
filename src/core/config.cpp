// Options/Config implementation on Boost.Program_options, with INI read/write.
#include "disa/core/config.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

namespace po = boost::program_options;

namespace disa::core {
namespace {

std::string format_double(double v) {
  // Shortest text that reads back to the same double.
  std::string s = fmt::format("{}", v);
  return s;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// Where in an INI file a dotted key is defined: "file:line", or "file" if not found.
std::string locate_in_ini(const std::string& path, const std::string& dotted) {
  std::ifstream in(path);
  std::string line, section;
  for (int n = 1; std::getline(in, line); ++n) {
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      section = trim(t.substr(1, t.size() - 2));
      continue;
    }
    auto eq = t.find('=');
    std::string key = trim(t.substr(0, eq));
    std::string full = section.empty() ? key : section + "." + key;
    if (full == dotted) return fmt::format("{}:{}", path, n);
  }
  return path;
}

}  // namespace

// ---------------------------------------------------------------------------- Options

Options::Options(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)), desc_("options") {
  desc_.add_options()("help,h", "print this help and exit");
  desc_.add_options()("config", po::value<std::string>(),
                      "INI file with options ([section] key = value); the command line wins");
  desc_.add_options()("print-config", "print the resolved configuration as INI (reusable with --config) and exit");
  add_string("log.level", "info", "log level: trace, debug, info, warn, error");
  add_bool("log.all-ranks", false, "log from every rank, not only rank 0");
}

Options& Options::add_spec(Spec spec) {
  if (find(spec.name)) DISA_THROW(ConfigError, "option --{} declared twice", spec.name);
  specs_.push_back(std::move(spec));
  return *this;
}

Options& Options::add_string(const std::string& name, const std::string& def, const std::string& help) {
  desc_.add_options()(name.c_str(), po::value<std::string>()->default_value(def), help.c_str());
  return add_spec({name, Kind::String, def, help});
}

Options& Options::add_int(const std::string& name, int64_t def, const std::string& help) {
  desc_.add_options()(name.c_str(), po::value<int64_t>()->default_value(def), help.c_str());
  return add_spec({name, Kind::Int, std::to_string(def), help});
}

Options& Options::add_double(const std::string& name, double def, const std::string& help) {
  desc_.add_options()(name.c_str(), po::value<double>()->default_value(def, format_double(def)), help.c_str());
  return add_spec({name, Kind::Double, format_double(def), help});
}

Options& Options::add_bool(const std::string& name, bool def, const std::string& help) {
  desc_.add_options()(name.c_str(),
                      po::value<bool>()->default_value(def, def ? "true" : "false")->implicit_value(true, "true"),
                      help.c_str());
  return add_spec({name, Kind::Bool, def ? "true" : "false", help});
}

Options& Options::add_list(const std::string& name, const std::string& help) {
  desc_.add_options()(name.c_str(), po::value<std::vector<std::string>>()->composing(), help.c_str());
  return add_spec({name, Kind::List, "", help});
}

Options& Options::add_positional(const std::string& name, const std::string& help, int max_count) {
  add_list(name, help);
  specs_.back().positional = true;
  pos_.add(name.c_str(), max_count);
  return *this;
}

const Options::Spec* Options::find(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return &s;
  return nullptr;
}

std::string Options::help_text() const {
  std::ostringstream out;
  out << "usage: disa " << command_ << " [options]";
  for (const auto& s : specs_)
    if (s.positional) out << " [" << s.name << "...]";
  out << "\n\n" << summary_ << "\n\n";
  out << "  --config FILE.ini    options from an INI file; the command line overrides it\n";
  out << "  --print-config       print the resolved configuration as INI and exit\n";
  out << "  -h, --help           print this help and exit\n\n";
  for (const auto& s : specs_) {
    std::string kind = s.kind == Kind::String   ? "STR"
                       : s.kind == Kind::Int    ? "INT"
                       : s.kind == Kind::Double ? "NUM"
                       : s.kind == Kind::Bool   ? "BOOL"
                                                : "STR...";
    out << fmt::format("  {}{} {}\n", s.positional ? "" : "--", s.name, kind);
    out << fmt::format("      {}", s.help);
    if (s.kind != Kind::List) out << fmt::format(" [default: {}]", s.default_text.empty() ? "\"\"" : s.default_text);
    out << "\n";
  }
  return out.str();
}

// ----------------------------------------------------------------------------- Config

Config::Config(const Options& options, po::variables_map vm, std::string config_file)
    : command_(options.command()), specs_(options.specs()), vm_(std::move(vm)), config_file_(std::move(config_file)) {}

const Options::Spec& Config::spec(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return s;
  DISA_THROW(ConfigError, "internal: command '{}' has no option --{}", command_, name);
}

bool Config::has(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return true;
  return false;
}

bool Config::is_set(const std::string& name) const {
  auto it = vm_.find(name);
  return it != vm_.end() && !it->second.defaulted();
}

std::string Config::get_string(const std::string& name) const {
  DISA_CHECK(spec(name).kind == Options::Kind::String, ConfigError, "internal: option --{} is not a string", name);
  return vm_.at(name).as<std::string>();
}

int64_t Config::get_int(const std::string& name) const {
  DISA_CHECK(spec(name).kind == Options::Kind::Int, ConfigError, "internal: option --{} is not an integer", name);
  return vm_.at(name).as<int64_t>();
}

double Config::get_double(const std::string& name) const {
  DISA_CHECK(spec(name).kind == Options::Kind::Double, ConfigError, "internal: option --{} is not a number", name);
  return vm_.at(name).as<double>();
}

bool Config::get_bool(const std::string& name) const {
  DISA_CHECK(spec(name).kind == Options::Kind::Bool, ConfigError, "internal: option --{} is not a boolean", name);
  return vm_.at(name).as<bool>();
}

std::vector<std::string> Config::get_list(const std::string& name) const {
  DISA_CHECK(spec(name).kind == Options::Kind::List, ConfigError, "internal: option --{} is not a list", name);
  auto it = vm_.find(name);
  if (it == vm_.end() || it->second.empty()) return {};
  return it->second.as<std::vector<std::string>>();
}

std::string Config::text(const std::string& name) const {
  const auto& s = spec(name);
  switch (s.kind) {
    case Options::Kind::String: return get_string(name);
    case Options::Kind::Int: return std::to_string(get_int(name));
    case Options::Kind::Double: return format_double(get_double(name));
    case Options::Kind::Bool: return get_bool(name) ? "true" : "false";
    case Options::Kind::List: return join(get_list(name), ", ");
  }
  return "";
}

std::vector<std::pair<std::string, std::string>> Config::items() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& s : specs_) out.emplace_back(s.name, text(s.name));
  return out;
}

std::string Config::to_ini() const {
  // Group by the first component of the dotted name; options without a dot first.
  std::ostringstream out;
  out << "# disa " << command_ << ": resolved configuration\n";
  std::vector<std::string> sections;
  for (const auto& s : specs_) {
    auto dot = s.name.find('.');
    std::string sec = dot == std::string::npos ? "" : s.name.substr(0, dot);
    if (std::find(sections.begin(), sections.end(), sec) == sections.end()) sections.push_back(sec);
  }
  std::stable_partition(sections.begin(), sections.end(), [](const std::string& s) { return s.empty(); });
  for (const auto& sec : sections) {
    if (!sec.empty()) out << "\n[" << sec << "]\n";
    for (const auto& s : specs_) {
      auto dot = s.name.find('.');
      std::string this_sec = dot == std::string::npos ? "" : s.name.substr(0, dot);
      if (this_sec != sec || s.positional) continue;
      std::string key = sec.empty() ? s.name : s.name.substr(dot + 1);
      out << "# " << s.help << "\n";
      if (s.kind == Options::Kind::List) {
        auto values = get_list(s.name);
        if (values.empty()) out << "# " << key << " =\n";
        for (const auto& v : values) out << key << " = " << v << "\n";
      } else {
        out << key << " = " << text(s.name) << "\n";
      }
    }
  }
  return out.str();
}

void Config::require(bool ok, const std::string& name, const std::string& message) const {
  if (!ok) DISA_THROW(ConfigError, "option --{}: {} (got {})", name, message, text(name));
}

// ------------------------------------------------------------------------------ parse

ParseOutcome parse_options(const Options& options, const std::vector<std::string>& args) {
  ParseOutcome outcome;
  std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
  po::parsed_options cli(&options.description());
  try {
    cli = po::command_line_parser(rest)
              .options(options.description())
              .positional(options.positional())
              .style(po::command_line_style::unix_style)
              .run();
  } catch (const po::error& e) {
    DISA_THROW(ConfigError, "disa {}: {} (see 'disa {} --help')", options.command(), e.what(), options.command());
  }
  po::variables_map cli_vm;
  try {
    po::store(cli, cli_vm);
  } catch (const po::error& e) {
    DISA_THROW(ConfigError, "disa {}: {}", options.command(), e.what());
  }
  if (cli_vm.count("help")) {
    outcome.action = ParseOutcome::Action::Help;
    return outcome;
  }

  std::set<std::string> given_on_cli;
  for (const auto& o : cli.options) given_on_cli.insert(o.string_key);

  std::string config_file;
  po::parsed_options file_opts(&options.description());
  if (cli_vm.count("config")) {
    config_file = cli_vm["config"].as<std::string>();
    std::ifstream in(config_file);
    if (!in) DISA_THROW(ConfigError, "option --config: cannot open '{}'", config_file);
    // Sections must name a known prefix.
    {
      std::ifstream scan(config_file);
      std::string line;
      for (int n = 1; std::getline(scan, line); ++n) {
        std::string t = trim(line);
        if (t.empty() || t[0] != '[') continue;
        if (t.back() != ']') DISA_THROW(ConfigError, "{}:{}: malformed section header '{}'", config_file, n, t);
        std::string sec = trim(t.substr(1, t.size() - 2));
        bool known = false;
        for (const auto& s : options.specs())
          if (s.name.rfind(sec + ".", 0) == 0) known = true;
        if (!known)
          DISA_THROW(ConfigError, "{}:{}: unknown section [{}] for 'disa {}'", config_file, n, sec, options.command());
      }
    }
    try {
      file_opts = po::parse_config_file(in, options.description(), false);
    } catch (const po::unknown_option& e) {
      DISA_THROW(ConfigError, "{}: unknown option '{}' for 'disa {}'", locate_in_ini(config_file, e.get_option_name()),
                 e.get_option_name(), options.command());
    } catch (const po::error& e) {
      DISA_THROW(ConfigError, "{}: {}", config_file, e.what());
    }
    for (const auto& o : file_opts.options)
      if (o.string_key == "config" || o.string_key == "help" || o.string_key == "print-config")
        DISA_THROW(ConfigError, "{}: '{}' is only valid on the command line", locate_in_ini(config_file, o.string_key),
                   o.string_key);
    // The command line wins: drop file entries for options given there.
    std::vector<po::option> kept;
    for (auto& o : file_opts.options)
      if (!given_on_cli.count(o.string_key)) kept.push_back(o);
    file_opts.options = kept;
  }

  po::variables_map vm;
  try {
    po::store(cli, vm);
    if (!config_file.empty()) {
      try {
        po::store(file_opts, vm);
      } catch (const po::error_with_option_name& e) {
        DISA_THROW(ConfigError, "{}: {}", locate_in_ini(config_file, e.get_option_name()), e.what());
      } catch (const po::error& e) {
        DISA_THROW(ConfigError, "{}: {}", config_file, e.what());
      }
    }
    po::notify(vm);
  } catch (const po::error& e) {
    DISA_THROW(ConfigError, "disa {}: {}", options.command(), e.what());
  }
  outcome.config = Config(options, std::move(vm), config_file);
  if (cli_vm.count("print-config")) outcome.action = ParseOutcome::Action::PrintConfig;
  return outcome;
}

}  // namespace disa::core
