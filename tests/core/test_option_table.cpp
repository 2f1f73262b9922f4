// OptionTable (include/disa/core/option_table.hpp): one declaration gives the option, its
// default (the settings' initialiser), its help, its rule and the field it fills.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "disa/core/option_table.hpp"

namespace {

struct Inner {
  std::string device = "auto";
};

enum class Mode { Fast, Exact };

struct Settings {
  int64_t samples = 16;
  uint64_t seed = 7;
  int small = 3;
  double beta = 1.5;
  bool exact = true;
  std::string out = "anchors.h5";
  std::vector<std::string> targets{"q", "k"};
  Mode mode = Mode::Exact;
  Inner inner;
};

disa::core::OptionTable<Inner> inner_table() {
  disa::core::OptionTable<Inner> t;
  t.text("demo.device", DISA_FIELD(device), "where");
  return t;
}

const disa::core::OptionTable<Settings>& table() {
  static const disa::core::OptionTable<Settings> t = [] {
    disa::core::OptionTable<Settings> t;
    t.integer("demo.samples", DISA_FIELD(samples), "samples per prompt", disa::core::at_least<int64_t>(1, "N"));
    t.integer("demo.seed", DISA_FIELD(seed), "seed");
    t.integer("demo.small", DISA_FIELD(small), "an int field");
    t.real("demo.beta", DISA_FIELD(beta), "beta", disa::core::above(0.0));
    t.flag("demo.exact", DISA_FIELD(exact), "exact");
    t.text("demo.out", DISA_FIELD(out), "output", disa::core::required("a file"));
    t.list("demo.target", DISA_FIELD(targets), "targets");
    t.choice("demo.mode", DISA_FIELD(mode),
             std::vector<std::pair<std::string, Mode>>{{"fast", Mode::Fast}, {"exact", Mode::Exact}}, "mode");
    t.include(DISA_FIELD(inner), inner_table());
    t.check(
        "demo.beta", [](const Settings& s) { return s.exact || s.beta < 10; }, "must be < 10 unless demo.exact");
    return t;
  }();
  return t;
}

disa::core::Config parse(std::vector<std::string> args) {
  disa::core::Options o("demo", "option table test");
  table().declare(o);
  args.insert(args.begin(), "demo");
  return disa::core::parse_options(o, args).config;
}

std::string error_of(std::vector<std::string> args) {
  try {
    table().read(parse(std::move(args)));
  } catch (const disa::core::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(OptionTable, DefaultsAreTheInitialisers) {
  const Settings s = table().read(parse({}));
  EXPECT_EQ(s.samples, 16);
  EXPECT_EQ(s.seed, 7u);
  EXPECT_EQ(s.small, 3);
  EXPECT_EQ(s.beta, 1.5);
  EXPECT_TRUE(s.exact);
  EXPECT_EQ(s.out, "anchors.h5");
  EXPECT_EQ(s.targets, (std::vector<std::string>{"q", "k"}));
  EXPECT_EQ(s.mode, Mode::Exact);
  EXPECT_EQ(s.inner.device, "auto");
  // --print-config shows the same defaults, the choice by its word.
  const std::string ini = parse({}).to_ini();
  EXPECT_NE(ini.find("samples = 16"), std::string::npos) << ini;
  EXPECT_NE(ini.find("mode = exact"), std::string::npos) << ini;
  EXPECT_NE(ini.find("device = auto"), std::string::npos) << ini;
}

TEST(OptionTable, ValuesFillTheirFields) {
  const Settings s =
      table().read(parse({"--demo.samples", "64", "--demo.seed", "9", "--demo.beta", "2", "--demo.exact=false",
                          "--demo.target", "v", "--demo.mode", "fast", "--demo.device", "cpu"}));
  EXPECT_EQ(s.samples, 64);
  EXPECT_EQ(s.seed, 9u);
  EXPECT_EQ(s.beta, 2.0);
  EXPECT_FALSE(s.exact);
  EXPECT_EQ(s.targets, std::vector<std::string>{"v"});
  EXPECT_EQ(s.mode, Mode::Fast);
  EXPECT_EQ(s.inner.device, "cpu");
}

TEST(OptionTable, RulesNameTheOptionAndTheValue) {
  EXPECT_EQ(error_of({"--demo.samples", "0"}), "option --demo.samples: must be >= 1 (N) (got 0)");
  EXPECT_EQ(error_of({"--demo.beta", "0"}), "option --demo.beta: must be > 0 (got 0)");
  EXPECT_EQ(error_of({"--demo.out", ""}), "option --demo.out: is required (a file) (got )");
  EXPECT_EQ(error_of({"--demo.mode", "slow"}), "option --demo.mode: must be fast or exact (got slow)");
  // The field's type bounds the value: no negative seed, no int overflow.
  EXPECT_EQ(error_of({"--demo.seed", "-1"}), "option --demo.seed: must be >= 0 (got -1)");
  EXPECT_EQ(error_of({"--demo.small", "4294967296"}), "option --demo.small: is out of range (got 4294967296)");
  // A check over several options runs after all are read.
  EXPECT_EQ(error_of({"--demo.beta", "12", "--demo.exact=false"}),
            "option --demo.beta: must be < 10 unless demo.exact (got 12)");
  EXPECT_EQ(error_of({"--demo.beta", "12"}), "");
}

}  // namespace
