// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/quant/reference.hpp"
#include "dfrot/quant/skew_select.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::quant;

TEST_SUITE("quant") {
  TEST_CASE("MomentAccumulator: streaming rows equal the two-pass float64 moments") {
    Rng rng(test::seed());
    std::size_t const rows = 37, cols = 61;
    std::vector<float> x(rows * cols);
    for (auto& v : x) v = static_cast<float>(std::exp(rng.normal()) + 3.0);  // skewed, offset
    MomentAccumulator m;
    m.add(MatrixView<float const>(x.data(), rows, cols));
    std::vector<double> xd(x.begin(), x.end());
    auto const ref = reference::moments(xd);
    CHECK(m.count() == rows * cols);
    CHECK(m.mean() == doctest::Approx(ref.mean).epsilon(1e-12));
    CHECK(m.stddev() == doctest::Approx(ref.std).epsilon(1e-10));
    CHECK(m.skewness() == doctest::Approx(ref.skew).epsilon(1e-9));
    MomentAccumulator a, b;
    a.add(MatrixView<float const>(x.data(), 10, cols));
    b.add(MatrixView<float const>(x.data() + 10 * cols, rows - 10, cols));
    a.merge(b);
    CHECK(a.skewness() == doctest::Approx(ref.skew).epsilon(1e-9));
  }

  TEST_CASE("decide_symmetry: symmetric data stays sym; skewed or shifted data goes asym") {
    Rng rng(test::seed() + 1);
    std::size_t const n = 20000;
    std::vector<float> sym(n), skewed(n), shifted(n);
    for (std::size_t i = 0; i < n; ++i) {
      double const g = rng.normal();
      sym[i] = static_cast<float>(g);
      skewed[i] = static_cast<float>(std::exp(0.8 * rng.normal()) - std::exp(0.32));  // mean≈0
      shifted[i] = static_cast<float>(g + 0.5);
    }
    SkewSelector sel;
    sel.observe("layers.0.self_attn.q_proj", MatrixView<float const>(sym.data(), 100, 200));
    sel.observe("layers.0.mlp.down_proj", MatrixView<float const>(skewed.data(), 100, 200));
    sel.observe("layers.0.mlp.up_proj", MatrixView<float const>(shifted.data(), 100, 200));
    auto const report = sel.report();
    REQUIRE(report.layers.size() == 3);
    auto const& q = report.at("layers.0.self_attn.q_proj");
    CHECK(q.symmetry == Symmetry::kSym);
    CHECK(!q.by_mean);
    CHECK(!q.by_skew);
    auto const& d = report.at("layers.0.mlp.down_proj");
    CHECK(d.symmetry == Symmetry::kAsym);
    CHECK(d.by_skew);
    CHECK(!d.by_mean);
    auto const& u = report.at("layers.0.mlp.up_proj");
    CHECK(u.symmetry == Symmetry::kAsym);
    CHECK(u.by_mean);
    CHECK(report.symmetry_of("layers.0.mlp.up_proj") == Symmetry::kAsym);
    CHECK_THROWS_AS(report.symmetry_of("k_proj"), UsageError);
    CHECK(report.to_text().find("down_proj") != std::string::npos);
    // Thresholds are configurable: a loose rule keeps the skewed layer symmetric.
    SkewThresholds loose;
    loose.tau_mean = 1.1;
    loose.tau_skew = 5.0;  // lognormal(0, 0.8) has skewness ≈ 3.7
    MomentAccumulator m;
    m.add(std::span<float const>(skewed));
    CHECK(decide_symmetry("x", m, loose).symmetry == Symmetry::kSym);
  }

  TEST_CASE("SkewSelector: NaN input is a NumericError; one value is a UsageError") {
    std::vector<float> x = {1.0f, std::numeric_limits<float>::quiet_NaN()};
    SkewSelector sel;
    CHECK_THROWS_AS(sel.observe("a", MatrixView<float const>(x.data(), 1, 2)), NumericError);
    MomentAccumulator m;
    m.add(std::span<float const>(x.data(), 1));
    CHECK_THROWS_AS(decide_symmetry("a", m), UsageError);
  }
}
