// Configuration: precedence default < INI file < command line, INI sections as dotted
// prefixes, unknown options/sections refused with their names (and file:line), the
// printed INI feeding back to the same configuration.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "disa/core/config.hpp"

namespace {

disa::core::Options make_options() {
  disa::core::Options o("anchor", "test command");
  o.add_double("anchor.beta", 1.0, "inverse temperature");
  o.add_int("anchor.samples", 16, "samples per prompt");
  o.add_string("anchor.out", "anchors.h5", "output file");
  o.add_bool("anchor.resume", false, "resume");
  o.add_list("eval.dataset", "name=path, repeatable");
  o.add_int("seed", 1234, "seed");
  return o;
}

std::string write_file(const std::string& name, const std::string& text) {
  std::string path = testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

disa::core::Config parse(const std::vector<std::string>& args) {
  auto outcome = disa::core::parse_options(make_options(), args);
  EXPECT_EQ(outcome.action, disa::core::ParseOutcome::Action::Run);
  return outcome.config;
}

TEST(Config, DefaultsApply) {
  auto c = parse({"anchor"});
  EXPECT_DOUBLE_EQ(c.get_double("anchor.beta"), 1.0);
  EXPECT_EQ(c.get_int("anchor.samples"), 16);
  EXPECT_EQ(c.get_string("anchor.out"), "anchors.h5");
  EXPECT_FALSE(c.get_bool("anchor.resume"));
  EXPECT_TRUE(c.get_list("eval.dataset").empty());
  EXPECT_FALSE(c.is_set("anchor.beta"));
}

TEST(Config, PrecedenceDefaultFileCommandLine) {
  auto ini = write_file("prec.ini",
                        "seed = 7\n[anchor]\nbeta = 2.5\nsamples = 32\nresume = yes\n"
                        "[eval]\ndataset = a=1.jsonl\ndataset = b=2.jsonl\n");
  auto c = parse({"anchor", "--config", ini, "--anchor.samples", "64", "--eval.dataset", "c=3.jsonl"});
  EXPECT_DOUBLE_EQ(c.get_double("anchor.beta"), 2.5);  // file beats default
  EXPECT_EQ(c.get_int("anchor.samples"), 64);          // command line beats file
  EXPECT_EQ(c.get_int("seed"), 7);
  EXPECT_TRUE(c.get_bool("anchor.resume"));
  EXPECT_EQ(c.get_list("eval.dataset"), std::vector<std::string>{"c=3.jsonl"});  // not merged
  EXPECT_EQ(c.get_string("anchor.out"), "anchors.h5");
  EXPECT_TRUE(c.is_set("anchor.beta"));
}

TEST(Config, ListFromFileWhenNotOnCommandLine) {
  auto ini = write_file("list.ini", "[eval]\ndataset = a=1.jsonl\ndataset = b=2.jsonl\n");
  auto c = parse({"anchor", "--config", ini});
  EXPECT_EQ(c.get_list("eval.dataset"), (std::vector<std::string>{"a=1.jsonl", "b=2.jsonl"}));
}

TEST(Config, BoolSwitchAlone) {
  auto c = parse({"anchor", "--anchor.resume"});
  EXPECT_TRUE(c.get_bool("anchor.resume"));
  auto d = parse({"anchor", "--anchor.resume=false"});
  EXPECT_FALSE(d.get_bool("anchor.resume"));
}

TEST(Config, UnknownCommandLineOptionNamed) {
  try {
    disa::core::parse_options(make_options(), {"anchor", "--anchor.betta", "3"});
    FAIL() << "expected ConfigError";
  } catch (const disa::core::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("anchor.betta"), std::string::npos) << e.what();
  }
}

TEST(Config, UnknownFileOptionNamedWithLine) {
  auto ini = write_file("unknown.ini", "[anchor]\nbeta = 2\n\nsampels = 3\n");
  try {
    disa::core::parse_options(make_options(), {"anchor", "--config", ini});
    FAIL() << "expected ConfigError";
  } catch (const disa::core::ConfigError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("anchor.sampels"), std::string::npos) << msg;
    EXPECT_NE(msg.find(ini + ":4"), std::string::npos) << msg;
  }
}

TEST(Config, UnknownSectionNamedWithLine) {
  auto ini = write_file("section.ini", "seed = 1\n[trian]\nsteps = 3\n");
  try {
    disa::core::parse_options(make_options(), {"anchor", "--config", ini});
    FAIL() << "expected ConfigError";
  } catch (const disa::core::ConfigError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("[trian]"), std::string::npos) << msg;
    EXPECT_NE(msg.find(ini + ":2"), std::string::npos) << msg;
  }
}

TEST(Config, BadValueNamesOptionAndLine) {
  auto ini = write_file("badvalue.ini", "[anchor]\nbeta = lots\n");
  try {
    disa::core::parse_options(make_options(), {"anchor", "--config", ini});
    FAIL() << "expected ConfigError";
  } catch (const disa::core::ConfigError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("anchor.beta"), std::string::npos) << msg;
    EXPECT_NE(msg.find(ini + ":2"), std::string::npos) << msg;
  }
  EXPECT_THROW(disa::core::parse_options(make_options(), {"anchor", "--anchor.samples", "x"}), disa::core::ConfigError);
}

TEST(Config, MissingConfigFileNamed) {
  try {
    disa::core::parse_options(make_options(), {"anchor", "--config", "/nonexistent/x.ini"});
    FAIL();
  } catch (const disa::core::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/x.ini"), std::string::npos);
  }
}

TEST(Config, PrintedIniRoundTrips) {
  auto c = parse({"anchor", "--anchor.beta", "0.125", "--eval.dataset", "x=y.jsonl", "--eval.dataset", "z=w.jsonl",
                  "--seed", "99"});
  auto ini = write_file("roundtrip.ini", c.to_ini());
  auto d = parse({"anchor", "--config", ini});
  EXPECT_EQ(c.items(), d.items());
  EXPECT_DOUBLE_EQ(d.get_double("anchor.beta"), 0.125);
}

TEST(Config, HelpAndPrintConfigActions) {
  EXPECT_EQ(disa::core::parse_options(make_options(), {"anchor", "--help"}).action,
            disa::core::ParseOutcome::Action::Help);
  EXPECT_EQ(disa::core::parse_options(make_options(), {"anchor", "--print-config"}).action,
            disa::core::ParseOutcome::Action::PrintConfig);
  auto help = make_options().help_text();
  EXPECT_NE(help.find("--anchor.beta"), std::string::npos);
  EXPECT_NE(help.find("[default: 1]"), std::string::npos);
}

TEST(Config, RequireNamesOption) {
  auto c = parse({"anchor", "--anchor.beta", "-1"});
  try {
    c.require(c.get_double("anchor.beta") > 0, "anchor.beta", "must be > 0");
    FAIL();
  } catch (const disa::core::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "option --anchor.beta: must be > 0 (got -1)");
  }
}

}  // namespace
