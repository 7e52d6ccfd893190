// SPDX-License-Identifier: Apache-2.0
// Cayley SGD on the orthogonal group: orthogonality over many steps (both modes), fixed-point vs
// exact agreement to O(α^(k+1)), the reference formulas, descent to a planted rotation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "dfrot/rotation/cayley_sgd.hpp"
#include "dfrot/rotation/random_orthogonal.hpp"
#include "dfrot/rotation/rotation.hpp"
#include "rotation/rotation_test_util.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::rotation;

namespace {

using test::gaussian;

/// Q with det +1 (Haar on O(n), last column flipped when needed), so X = I can reach it.
Eigen::MatrixXd special_orthogonal(std::size_t n, std::uint64_t seed) {
  Eigen::MatrixXd q = haar_orthogonal(n, seed);
  if (q.determinant() < 0) q.col(0) *= -1.0;
  return q;
}

/// max |XᵀX − I| by hand: in this file GCC 12 reports a spurious -Wnull-dereference inside the
/// maxCoeff of orthogonality_error.
double orth_error(Eigen::MatrixXd const& x) {
  Eigen::MatrixXd const e = x.transpose() * x;
  double m = 0;
  for (Eigen::Index i = 0; i < e.rows(); ++i) {
    for (Eigen::Index j = 0; j < e.cols(); ++j) m = std::max(m, std::abs(e(i, j) - (i == j ? 1.0 : 0.0)));
  }
  return m;
}

}  // namespace

TEST_SUITE("rotation") {
  TEST_CASE("cayley sgd: orthogonal to 1e-6 after 1000 random-gradient steps, both modes") {
    for (CayleyMode mode : {CayleyMode::kFixedPoint, CayleyMode::kExact}) {
      CAPTURE(int(mode));
      CayleySgdOptions o;
      o.mode = mode;
      o.lr = 0.01;
      o.seed = 3;
      CayleySgd sgd(o);
      Rng rng(test::seed());
      Eigen::MatrixXd x = haar_orthogonal(24, 11);
      Eigen::MatrixXd const x0 = x;
      int n_qr = 0;
      for (int s = 0; s < 1000; ++s) n_qr += sgd.step(x, gaussian(24, 24, rng)).qr ? 1 : 0;
      CHECK(sgd.steps_taken() == 1000);
      CHECK(orth_error(x) <= 1e-6);
      CHECK((x - x0).norm() > 0.1);  // it moved
      CHECK(n_qr > 0);
      CHECK(n_qr < 30);  // ≈ 1000/101
    }
    // Exact mode stays orthogonal at SpinQuant's lr 1.5 (α capped at 1/‖W‖₁), without any QR.
    CayleySgdOptions o;
    o.mode = CayleyMode::kExact;
    o.qr_probability = 0;
    CayleySgd sgd(o);
    Rng rng(test::seed() + 1);
    Eigen::MatrixXd x = haar_orthogonal(24, 12);
    for (int s = 0; s < 300; ++s) sgd.step(x, gaussian(24, 24, rng));
    // The +1e-8 of the row normalization leaves rows of norm 1 − 1e-8: a 2e-8 floor.
    CHECK(orth_error(x) <= 3e-8);
  }

  TEST_CASE("cayley sgd: fixed-point steps approach the exact Cayley step as O(alpha^(k+1))") {
    Rng rng(test::seed() + 2);
    Eigen::MatrixXd const x0 = haar_orthogonal(16, 4);
    Eigen::MatrixXd g = gaussian(16, 16, rng);
    g /= g.norm();  // ‖W‖ ≈ 1/2, so the lr below is the step α (the 1/‖W‖₁ cap is inactive)
    for (int k : {1, 2, 5}) {
      CAPTURE(k);
      double diff[2];
      for (int h = 0; h < 2; ++h) {
        double const lr = 0.04 / double(1 << h);
        CayleySgdOptions o;
        o.lr = lr;
        o.qr_probability = 0;
        o.fixed_point_iterations = k;
        Eigen::MatrixXd xf = x0, xe = x0;
        CayleySgd fp(o);
        CayleyStepInfo const info = fp.step(xf, g);
        CHECK(info.alpha == lr);
        o.mode = CayleyMode::kExact;
        CayleySgd ex(o);
        ex.step(xe, g);
        diff[h] = (xf - xe).cwiseAbs().maxCoeff();
      }
      // Halving α divides the difference by 2^(k+1).
      double const ratio = diff[0] / diff[1];
      MESSAGE("k = ", k, ": diff ", diff[0], " -> ", diff[1], ", ratio ", ratio);
      CHECK(ratio > 0.7 * std::pow(2.0, k + 1));
      CHECK(ratio < 1.4 * std::pow(2.0, k + 1));
    }
  }

  TEST_CASE("cayley sgd: W = ½(XᵀG − GᵀX), α = min(lr, 1/‖W‖₁), first-order step −αX·W") {
    Rng rng(test::seed() + 3);
    Eigen::MatrixXd const x0 = haar_orthogonal(10, 5);
    Eigen::MatrixXd const g = gaussian(10, 10, rng);
    // Step 1 divides the rows by (‖row‖ + 1e-8); then the reference's formulas, M = −Gᵀ.
    Eigen::MatrixXd xn = x0;
    for (Eigen::Index i = 0; i < 10; ++i) xn.row(i) /= (x0.row(i).norm() + 1e-8);
    Eigen::MatrixXd const m = -g.transpose();
    Eigen::MatrixXd const w_hat = m * xn - 0.5 * xn.transpose() * (xn * m * xn);
    Eigen::MatrixXd const w = w_hat - w_hat.transpose();
    // For orthogonal X that is ½(XᵀG − GᵀX).
    CHECK((w - 0.5 * (x0.transpose() * g - g.transpose() * x0)).cwiseAbs().maxCoeff() <= 1e-7);
    double const w1 = w.cwiseAbs().colwise().sum().maxCoeff();
    CayleySgdOptions o;
    o.qr_probability = 0;
    o.mode = CayleyMode::kExact;
    o.lr = 1.5;  // capped
    Eigen::MatrixXd x = x0;
    CayleySgd sgd(o);
    CayleyStepInfo const info = sgd.step(x, g);
    CHECK(info.w_norm1 == doctest::Approx(w1).epsilon(1e-12));
    CHECK(info.alpha == doctest::Approx(1.0 / (w1 + 1e-8)).epsilon(1e-12));
    // Exact step: Xᵀ_new = (I − ½αW)⁻¹(I + ½αW)Xᵀ.
    Eigen::MatrixXd const id = Eigen::MatrixXd::Identity(10, 10);
    double const a = info.alpha;
    Eigen::MatrixXd const expected =
        ((id - 0.5 * a * w).inverse() * (id + 0.5 * a * w) * xn.transpose()).transpose();
    CHECK((x - expected).cwiseAbs().maxCoeff() <= 1e-10);
    // Small α: X_new ≈ X − α·X·W... in the transposed frame Yᵀ = X + α(W Xᵀ)ᵀ = X − α X W.
    o.lr = 1e-4;
    CayleySgd small(o);
    Eigen::MatrixXd xs = x0;
    small.step(xs, g);
    CHECK((xs - (x0 - 1e-4 * x0 * w)).cwiseAbs().maxCoeff() <= 1e-7);
    // The loss ⟨G, X⟩ decreases along the step (descent direction).
    CHECK((g.array() * xs.array()).sum() < (g.array() * x0.array()).sum());
  }

  TEST_CASE("cayley sgd: cosine schedule, options and shapes") {
    CayleySgdOptions o;
    o.lr = 2.0;
    o.cosine_total_steps = 100;
    CayleySgd sgd(o);
    CHECK(sgd.learning_rate(0) == 2.0);
    CHECK(sgd.learning_rate(50) == doctest::Approx(1.0));
    CHECK(sgd.learning_rate(100) == doctest::Approx(0.0));
    CHECK(sgd.learning_rate(200) == doctest::Approx(0.0));
    Eigen::MatrixXd x = Eigen::MatrixXd::Identity(4, 4);
    CHECK_THROWS_AS(sgd.step(x, Eigen::MatrixXd::Zero(3, 4)), ShapeError);
    Eigen::MatrixXd rect = Eigen::MatrixXd::Zero(3, 4);
    CHECK_THROWS_AS(sgd.step(rect, Eigen::MatrixXd::Zero(3, 4)), ShapeError);
    Eigen::MatrixXd g = Eigen::MatrixXd::Zero(4, 4);
    g(1, 2) = std::nan("");
    CHECK_THROWS_AS(sgd.step(x, g), NumericError);
    o.lr = 0;
    CHECK_THROWS_AS(CayleySgd{o}, UsageError);
    o.lr = 1;
    o.qr_probability = 2;
    CHECK_THROWS_AS(CayleySgd{o}, UsageError);
  }

  TEST_CASE("cayley sgd: min ‖A X − A Q‖² converges to Q in both modes") {
    std::size_t const n = 8;
    Rng rng(test::seed() + 4);
    Eigen::MatrixXd const a = gaussian(64, Eigen::Index(n), rng) / 8.0;  // AᵀA ≈ I
    Eigen::MatrixXd const q = special_orthogonal(n, 21);
    Eigen::MatrixXd const b = a * q;
    for (CayleyMode mode : {CayleyMode::kFixedPoint, CayleyMode::kExact}) {
      CAPTURE(int(mode));
      CayleySgdOptions o;
      o.mode = mode;
      o.lr = 0.2;
      CayleySgd sgd(o);
      Eigen::MatrixXd x = Eigen::MatrixXd::Identity(Eigen::Index(n), Eigen::Index(n));
      double const f0 = (a * x - b).squaredNorm();
      for (int s = 0; s < 800; ++s) sgd.step(x, 2.0 * a.transpose() * (a * x - b));
      double const f1 = (a * x - b).squaredNorm();
      MESSAGE("loss ", f0, " -> ", f1, ", |X - Q| = ", (x - q).cwiseAbs().maxCoeff());
      CHECK(f1 < 1e-10 * f0);
      CHECK((x - q).cwiseAbs().maxCoeff() <= 1e-5);
      CHECK(orth_error(x) <= 3e-8);  // the 2e-8 floor of the row normalization
    }
  }
}
