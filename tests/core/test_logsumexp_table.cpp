// The log-sum-exp accumulator (merge order, -inf, large magnitudes), the boxed table
// and error exit codes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "disa/core/error.hpp"
#include "disa/core/logsumexp.hpp"
#include "disa/core/table.hpp"

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Both sides are a few correctly rounded operations and libm calls (exp, log within 1 ulp)
// on values ~4 (ulp 4.4e-16): they agree to ~5 ulp = 2.2e-15; 1e-14 leaves 4x, and a lost
// term would move the result by >= exp(-1.5 - 3.8) ~ 5e-3.
TEST(LogSumExp, MatchesDirectFormulaOnModerateValues) {
  std::vector<double> xs{-1.5, 0.25, 2.0, 3.5};
  double direct = 0;
  for (double x : xs) direct += std::exp(x);
  EXPECT_NEAR(disa::core::logsumexp(xs), std::log(direct), 1e-14);
}

// Both sides end in |m| + log(1 + r) with |m| = 1e4: the final addition rounds to
// ulp(1e4) = 1.8e-12 on each side, the log terms (< 1) err by ~1e-16: |diff| <= 1.8e-12.
// 1e-9 is above that and far below the failure it guards against (overflow to inf or a
// lost term: >= 0.31).
TEST(LogSumExp, LargeMagnitudes) {
  EXPECT_NEAR(disa::core::logsumexp({1e4, 1e4}), 1e4 + std::log(2.0), 1e-9);
  EXPECT_NEAR(disa::core::logsumexp({-1e4, -1e4 - 1}), -1e4 + std::log1p(std::exp(-1.0)), 1e-9);
}

TEST(LogSumExp, NegativeInfinityEntries) {
  EXPECT_EQ(disa::core::logsumexp({}), -kInf);
  EXPECT_EQ(disa::core::logsumexp({-kInf, -kInf}), -kInf);
  EXPECT_EQ(disa::core::logsumexp({-kInf, 0.0}), 0.0);  // -inf skipped, 0 + log(1): exact
}

TEST(LogSumExp, MergeIsOrderIndependent) {
  disa::core::LogSumExp a, b, c;
  for (double x : {3.0, -2.0}) a.add(x);
  for (double x : {10.0, -kInf}) b.add(x);
  disa::core::LogSumExp ab = a;
  ab.merge(b);
  disa::core::LogSumExp ba = b;
  ba.merge(a);
  ba.merge(c);  // merging an empty accumulator changes nothing
  // Two accumulators merge to s_lo * exp(m_lo - m_hi) + s_hi in either order; + and * are
  // commutative in IEEE arithmetic, so the two orders are bitwise equal.
  EXPECT_EQ(ab.value(), ba.value());
  // Another grouping than the serial one differs by a few roundings of the scaled sum
  // (relative ~1e-16 each) plus the final m + log(s) at ~10 (ulp 1.8e-15): <~ 4e-15.
  EXPECT_NEAR(ab.value(), disa::core::logsumexp({3.0, -2.0, 10.0}), 1e-14);
}

TEST(Table, RendersAlignedBox) {
  disa::core::Table t("title");
  t.row("a", "1").row("longer key", "value");
  auto s = t.render();
  EXPECT_NE(s.find("| a          | 1     |"), std::string::npos) << s;
  EXPECT_NE(s.find("| longer key | value |"), std::string::npos) << s;
}

TEST(Errors, ExitCodesByKind) {
  EXPECT_EQ(disa::core::ConfigError("x").exit_code(), 2);
  EXPECT_EQ(disa::core::IoError("x").exit_code(), 3);
  EXPECT_EQ(disa::core::DataError("x").exit_code(), 4);
  EXPECT_EQ(disa::core::DistError("x").exit_code(), 5);
  EXPECT_EQ(disa::core::ModelError("x").exit_code(), 6);
}

}  // namespace
