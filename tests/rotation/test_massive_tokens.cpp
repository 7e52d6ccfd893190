// SPDX-License-Identifier: Apache-2.0
// Massive-activation tokens: per-token 4-bit error against a scalar reference, the width-scaled
// threshold, and both selection rules on planted massive tokens.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "dfrot/quant/grid.hpp"
#include "dfrot/rotation/massive_tokens.hpp"
#include "dfrot/rotation/random_hadamard.hpp"
#include "dfrot/rotation/random_orthogonal.hpp"
#include "rotation/rotation_test_util.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::rotation;

namespace {

/// ‖x − Qz(x)‖ with the scalar grid helpers in float (the kernels' oracle), summed in double.
double reference_error(float const* x, std::size_t d, int bits) {
  auto const g = quant::make_grid<float>(bits, quant::Symmetry::kSym);
  float lo = 0, hi = 0;
  for (std::size_t j = 0; j < d; ++j) {
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
  }
  auto const p = quant::activation_params<float>(lo, hi, g);
  double s = 0;
  for (std::size_t j = 0; j < d; ++j) {
    double const e = double(x[j]) - double(quant::fake_quantize(x[j], p, g));
    s += e * e;
  }
  return std::sqrt(s);
}

}  // namespace

TEST_SUITE("rotation") {
  TEST_CASE("massive tokens: threshold scales with sqrt(d)") {
    CHECK(massive_threshold_for_width(4096) == 8.5);
    CHECK(massive_threshold_for_width(576) == doctest::Approx(3.1875).epsilon(1e-15));
    CHECK(massive_threshold_for_width(1024, 10.0) == doctest::Approx(5.0));
    CHECK_THROWS_AS(massive_threshold_for_width(0), ShapeError);
  }

  TEST_CASE("massive tokens: per-token error matches the scalar quantizer, any thread count") {
    auto const s = test::synthetic_rows(700, 96, 50, test::seed());
    for (int bits : {3, 4, 8}) {
      CAPTURE(bits);
      std::vector<double> const e1 = token_quant_errors(s.view(), bits, 1);
      std::vector<double> const e2 = token_quant_errors(s.view(), bits, 2);
      REQUIRE(e1.size() == s.n);
      CHECK(e1 == e2);
      for (std::size_t t = 0; t < s.n; ++t) {
        CHECK(e1[t] == doctest::Approx(reference_error(s.data.data() + t * s.d, s.d, bits)).epsilon(1e-12));
      }
    }
    // The RMS-normalized rows have norm sqrt(d), and a zero row has error 0.
    std::vector<float> zero(96, 0.0f);
    CHECK(token_quant_errors(MatrixView<float const>(zero.data(), 1, 96))[0] == 0.0);
    CHECK_THROWS_AS(token_quant_errors(MatrixView<float const>(zero.data(), 1, 0)), ShapeError);
  }

  TEST_CASE("massive tokens: rotated error equals the error of explicitly rotated rows") {
    auto const s = test::synthetic_rows(300, 64, 30, test::seed() + 1);
    Eigen::MatrixXd const q = RandomHadamardRotation(3).generate(64).matrix;
    std::vector<double> const er = rotated_token_quant_errors(s.view(), q, 4, 2);
    Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> const> a(
        s.data.data(), 300, 64);
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> const y =
        a * q.cast<float>();
    for (std::size_t t = 0; t < s.n; ++t) {
      CHECK(er[t] == doctest::Approx(reference_error(y.data() + t * 64, 64, 4)).epsilon(1e-4));
    }
    CHECK_THROWS_AS(rotated_token_quant_errors(s.view(), Eigen::MatrixXd::Identity(63, 63)),
                    ShapeError);
  }

  TEST_CASE("massive tokens: both rules find exactly the planted tokens") {
    std::size_t const d = 256;
    // 32 outlier channels keep every ordinary row's error well above τ whatever the seed.
    auto const s = test::synthetic_rows(2000, d, 40, test::seed() + 2, 32);
    double const tau = massive_threshold_for_width(d);  // 2.125
    MassiveTokens const a = select_massive_by_threshold(s.view(), tau, 4, 2);
    CHECK(a.n_rows() == s.n);
    CHECK(a.mask == s.massive);
    CHECK(a.n_massive() == 50);
    CHECK(a.fraction() == doctest::Approx(0.025));
    CHECK(a.threshold == tau);
    for (std::size_t i : a.indices) CHECK(a.error[i] < tau);
    // Ordinary rows sit well above the threshold, massive ones well below.
    double min_ordinary = 1e300, max_massive = 0;
    for (std::size_t t = 0; t < s.n; ++t) {
      if (s.massive[t]) max_massive = std::max(max_massive, a.error[t]);
      else min_ordinary = std::min(min_ordinary, a.error[t]);
    }
    CHECK(max_massive < 0.5 * tau);
    CHECK(min_ordinary > 1.15 * tau);

    // Rule (b) on rows with fewer outlier channels (a random rotation clearly helps them).
    auto const s8 = test::synthetic_rows(2000, d, 40, test::seed() + 3, 16);
    MassiveTokens const b = select_massive_by_rotation(s8.view(), haar_orthogonal(d, 987654321), 4, 2);
    // Every planted token is selected; an ordinary row occasionally is too (its rotated error
    // is a random draw), but rarely.
    std::size_t extra = 0;
    for (std::size_t t = 0; t < s8.n; ++t) {
      if (s8.massive[t]) CHECK(b.mask[t] == 1);
      else extra += b.mask[t];
    }
    CHECK(extra <= s8.n / 50);
    CHECK(b.rule == "e_t <= e_t^RO");
    REQUIRE(b.rotated_error.size() == s8.n);
    for (std::size_t t = 0; t < s8.n; ++t) CHECK((b.mask[t] != 0) == (b.error[t] <= b.rotated_error[t]));
    CHECK_THROWS_AS(select_massive_by_threshold(s.view(), -1.0), UsageError);
  }
}
