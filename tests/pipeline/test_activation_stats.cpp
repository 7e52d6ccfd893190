// SPDX-License-Identifier: Apache-2.0
// activation_stats on hand-built matrices: planted massive values give exact counts and indices,
// DFRot's error rule against an independent quantizer, kurtosis against closed forms, and
// rotate_rows spreading a planted outlier.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/pipeline/activation_stats.hpp"
#include "dfrot/rotation/random_hadamard.hpp"
#include "dfrot/rotation/random_orthogonal.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

namespace {

model::RowMatrixF gaussian(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  Rng rng(seed);
  model::RowMatrixF m(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = float(rng.normal());
  return m;
}

/// Symmetric absmax 4-bit quantization error of one row, written from §3.1/§3.4.
double reference_error(model::RowMatrixF const& x, Eigen::Index r) {
  float amax = 0;
  for (Eigen::Index c = 0; c < x.cols(); ++c) amax = std::max(amax, std::abs(x(r, c)));
  float const scale = amax > 0 ? amax / 7.0f : 1.0f;
  double s = 0;
  for (Eigen::Index c = 0; c < x.cols(); ++c) {
    float const q = std::clamp(std::nearbyint(x(r, c) / scale), -8.0f, 7.0f) * scale;
    s += (double(x(r, c)) - double(q)) * (double(x(r, c)) - double(q));
  }
  return std::sqrt(s);
}

}  // namespace

TEST_SUITE("pipeline") {
  TEST_CASE("stats: planted massive values, absolute threshold binding (median 0.05)") {
    model::RowMatrixF x(16, 32);
    for (Eigen::Index r = 0; r < 16; ++r)
      for (Eigen::Index c = 0; c < 32; ++c) x(r, c) = (r + c) % 2 ? 0.05f : -0.05f;
    x(3, 5) = 150.0f;
    x(3, 7) = -120.0f;
    x(10, 5) = 5000.0f;
    x(12, 20) = 99.0f;  // above 1000·median = 50 but not above 100
    auto const s = pipeline::activation_stats(pipeline::view_of(x));
    CHECK(s.median_abs == doctest::Approx(0.05));
    CHECK(s.massive_threshold == 100.0);
    CHECK(s.n_massive_values == 3);
    CHECK(s.massive_tokens == std::vector<std::size_t>{3, 10});
    CHECK(s.massive_channels == std::vector<std::size_t>{5, 7});
    CHECK(s.max_abs == 5000.0);
    CHECK(s.max_over_median == doctest::Approx(5000.0 / 0.05));
    REQUIRE(s.top_channels.size() == 8);
    CHECK(s.top_channels[0].channel == 5);
    CHECK(s.top_channels[0].n_massive == 2);
    CHECK(s.top_channels[1].channel == 7);
    CHECK(s.top_channels[1].max_abs == 120.0);
    CHECK(s.top_channels[2].channel == 20);
    CHECK(s.top_channels[2].n_massive == 0);
  }

  TEST_CASE("stats: the median rule binds when the median is large; constants are options") {
    model::RowMatrixF x = model::RowMatrixF::Constant(8, 16, 1.0f);
    x(2, 3) = 150.0f;    // > 100 but not > 1000·median
    x(6, 9) = -1500.0f;  // both
    auto const s = pipeline::activation_stats(pipeline::view_of(x));
    CHECK(s.massive_threshold == 1000.0);
    CHECK(s.n_massive_values == 1);
    CHECK(s.massive_tokens == std::vector<std::size_t>{6});
    CHECK(s.massive_channels == std::vector<std::size_t>{9});
    auto const loose = pipeline::activation_stats(
        pipeline::view_of(x), {.massive_min_abs = 10, .massive_median_ratio = 100});
    CHECK(loose.n_massive_values == 2);
    CHECK(loose.massive_tokens == std::vector<std::size_t>{2, 6});
    // Median of an even count is the mean of the two middle magnitudes.
    model::RowMatrixF y(2, 2);
    y << 1, -2, 3, -4;
    CHECK(pipeline::activation_stats(pipeline::view_of(y)).median_abs == 2.5);
  }

  TEST_CASE("stats: DFRot per-token error rule, threshold scaled by sqrt(d/4096)") {
    std::size_t const d = 64;
    model::RowMatrixF x = gaussian(6, d, test::seed());
    for (Eigen::Index r = 0; r < 6; ++r)
      x.row(r) *= float(std::sqrt(double(d)) / double(x.row(r).norm()));
    x.row(1).setZero();
    x(1, 17) = 8.0f;  // one channel: quantizes exactly (e = 0)
    x.row(4).setZero();
    x(4, 2) = 7.0f;  // scale 1: 7 and 3 exact, 2.6 → 3 (error 0.4)
    x(4, 40) = 3.0f;
    x(4, 41) = 2.6f;
    CHECK(pipeline::activation_stats(pipeline::view_of(x)).error_threshold ==
          doctest::Approx(8.5 / 8.0));
    // Gaussian rows of norm √d = 8 have e_t ≈ 0.8; τ = 4 puts the threshold at 0.5 between them
    // and the two planted rows.
    auto const s = pipeline::activation_stats(pipeline::view_of(x), {.tau = 4.0});
    CHECK(s.error_threshold == doctest::Approx(0.5));
    REQUIRE(s.token_error.size() == 6);
    for (Eigen::Index r = 0; r < 6; ++r)
      CHECK(s.token_error[std::size_t(r)] == doctest::Approx(reference_error(x, r)).epsilon(1e-6));
    CHECK(s.token_error[1] == 0.0);
    CHECK(s.token_error[4] == doctest::Approx(0.4).epsilon(1e-5));
    for (std::size_t r : {0, 2, 3, 5}) CHECK(s.token_error[r] > 0.6);
    CHECK(s.low_error_tokens == std::vector<std::size_t>{1, 4});
    double mean = 0;
    for (double e : s.token_error) mean += e / 6.0;
    CHECK(s.mean_token_error == doctest::Approx(mean));
    auto const strict = pipeline::activation_stats(pipeline::view_of(x), {.tau = 0.0});
    CHECK(strict.low_error_tokens.empty());
  }

  TEST_CASE("stats: kurtosis of known samples (pooled vs per token)") {
    // Each row is (r+1)·{-2,-1,0,1,2}: per-row kurtosis 6.8/2² = 1.7; pooled over the three
    // scales m4/m2² = (6.8·98/3) / (2·14/3)² = 2.55.
    model::RowMatrixF x(3, 5);
    for (Eigen::Index r = 0; r < 3; ++r)
      for (Eigen::Index c = 0; c < 5; ++c) x(r, c) = float((r + 1) * (c - 2));
    auto const s = pipeline::activation_stats(pipeline::view_of(x));
    CHECK(s.mean_token_kurtosis == doctest::Approx(1.7).epsilon(1e-12));
    CHECK(s.kurtosis == doctest::Approx(2.55).epsilon(1e-12));
    // A Gaussian sample against the float64 formula and its expected value 3.
    model::RowMatrixF const g = gaussian(200, 100, test::seed() + 1);
    double mean = 0;
    for (Eigen::Index i = 0; i < g.size(); ++i) mean += double(g.data()[i]);
    mean /= double(g.size());
    double m2 = 0, m4 = 0;
    for (Eigen::Index i = 0; i < g.size(); ++i) {
      double const dv = double(g.data()[i]) - mean;
      m2 += dv * dv;
      m4 += dv * dv * dv * dv;
    }
    m2 /= double(g.size());
    m4 /= double(g.size());
    double const k = pipeline::pooled_kurtosis(pipeline::view_of(g));
    CHECK(k == doctest::Approx(m4 / (m2 * m2)).epsilon(1e-12));
    CHECK(k == doctest::Approx(3.0).epsilon(0.05));
  }

  TEST_CASE("rotate_rows: X·Q in float64; randomized Hadamard flattens an outlier channel") {
    // RMSNorm-like rows (norm √d) with channel 10 large in every token: the classic activation
    // outlier that rotations remove.
    std::size_t const d = 64;
    model::RowMatrixF x = gaussian(32, d, test::seed() + 2);
    for (Eigen::Index r = 0; r < 32; ++r) {
      x(r, 10) += 20.0f;
      x.row(r) *= float(std::sqrt(double(d)) / double(x.row(r).norm()));
    }
    Eigen::MatrixXd const q = rotation::RandomHadamardRotation(3).generate(d).matrix;
    model::RowMatrixF const y = pipeline::rotate_rows(pipeline::view_of(x), q);
    Eigen::MatrixXd const expect = x.cast<double>() * q;
    CHECK((y.cast<double>() - expect).cwiseAbs().maxCoeff() < 1e-5);
    for (Eigen::Index r = 0; r < 32; ++r)
      CHECK(double(y.row(r).norm()) == doctest::Approx(double(x.row(r).norm())).epsilon(1e-5));
    auto const before = pipeline::activation_stats(pipeline::view_of(x));
    auto const after = pipeline::activation_stats(pipeline::view_of(y));
    MESSAGE("max/median ", before.max_over_median, " -> ", after.max_over_median, ", kurtosis ",
            before.kurtosis, " -> ", after.kurtosis, ", mean e_t ", before.mean_token_error, " -> ",
            after.mean_token_error);
    CHECK(before.top_channels[0].channel == 10);
    CHECK(before.max_over_median > 15.0);
    CHECK(after.max_over_median < before.max_over_median / 5.0);
    CHECK(after.kurtosis < before.kurtosis / 5.0);
    CHECK(after.mean_token_error < before.mean_token_error / 2.0);
    CHECK(pipeline::rotate_rows(pipeline::view_of(x), Eigen::MatrixXd::Identity(64, 64)) == x);
    CHECK_THROWS_AS(pipeline::rotate_rows(pipeline::view_of(x), Eigen::MatrixXd::Identity(32, 32)),
                    ShapeError);
  }

  TEST_CASE(
      "stats: a one-channel (massive) token is exact unrotated, not after a random rotation") {
    std::size_t const d = 64;
    model::RowMatrixF x = gaussian(4, d, test::seed() + 3);
    x.row(0).setZero();
    x(0, 9) = 8.0f;
    auto const before = pipeline::activation_stats(pipeline::view_of(x));
    auto const after = pipeline::activation_stats(pipeline::view_of(
        pipeline::rotate_rows(pipeline::view_of(x), rotation::haar_orthogonal(d, 4))));
    CHECK(before.token_error[0] == 0.0);
    CHECK(after.token_error[0] > 0.3);
  }

  TEST_CASE("stats: rejects empty and non-finite input") {
    model::RowMatrixF x = model::RowMatrixF::Ones(2, 4);
    CHECK_THROWS_AS(pipeline::activation_stats(MatrixView<float const>(x.data(), 0, 4)),
                    ShapeError);
    x(1, 2) = std::nanf("");
    CHECK_THROWS_AS(pipeline::activation_stats(pipeline::view_of(x)), NumericError);
  }
}
