// SPDX-License-Identifier: Apache-2.0
// Rotation losses: analytic gradients against central finite differences, the constant P = 2
// outlier loss, and Cayley-SGD optimization of both losses through optimize_rotation.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "dfrot/rotation/cayley_optimize.hpp"
#include "dfrot/rotation/random_hadamard.hpp"
#include "dfrot/rotation/random_orthogonal.hpp"
#include "dfrot/rotation/rotation_losses.hpp"
#include "rotation/rotation_test_util.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::rotation;

namespace {

using test::gaussian;

/// Heavy-tailed rows: Gaussian with a few channels scaled up.
Eigen::MatrixXd rows_with_outliers(Eigen::Index n, Eigen::Index d, Rng& rng) {
  Eigen::MatrixXd x = gaussian(n, d, rng);
  x.col(0) *= 6.0;
  x.col(3) *= 3.0;
  return x;
}

/// max over random directions D of |FD − ⟨grad, D⟩| / max(|⟨grad, D⟩|, floor).
double gradient_check(RotationLoss const& loss, Eigen::MatrixXd const& x, Eigen::MatrixXd const& r,
                      std::vector<double> const& w, double h, Rng& rng, int n_dirs = 4) {
  Eigen::MatrixXd grad;
  loss.evaluate(x, r, w, &grad);
  double worst = 0;
  for (int k = 0; k < n_dirs; ++k) {
    Eigen::MatrixXd dir = gaussian(r.rows(), r.cols(), rng);
    dir /= dir.norm();
    double const fd = (loss.evaluate(x, r + h * dir, w) - loss.evaluate(x, r - h * dir, w)) / (2 * h);
    double const an = (grad.array() * dir.array()).sum();
    worst = std::max(worst, std::abs(fd - an) / std::max(std::abs(an), 1e-3 * grad.norm()));
  }
  return worst;
}

}  // namespace

TEST_SUITE("rotation") {
  TEST_CASE("outlier loss: gradient matches central differences (global and per token)") {
    Rng rng(test::seed());
    Eigen::MatrixXd const x = rows_with_outliers(40, 12, rng);
    Eigen::MatrixXd const r = haar_orthogonal(12, 2);
    for (OutlierStats stats : {OutlierStats::kGlobal, OutlierStats::kPerToken}) {
      for (double p : {4.0, 3.0, 2.5}) {
        for (double t : {2.5, 1.0}) {
          CAPTURE(int(stats));
          CAPTURE(p);
          CAPTURE(t);
          OutlierLoss const loss({stats, p, t, 1e-6});
          CHECK(gradient_check(loss, x, r, {}, 1e-5, rng) <= 1e-6);
        }
      }
    }
    CHECK_THROWS_AS(OutlierLoss({OutlierStats::kGlobal, 0.5, 2.5, 1e-6}), UsageError);
    OutlierLoss const loss;
    std::vector<double> const w(40, 1.0);
    CHECK_THROWS_AS(loss.evaluate(x, r, w), UsageError);
    CHECK_THROWS_AS(loss.evaluate(x, Eigen::MatrixXd::Identity(11, 11)), ShapeError);
  }

  TEST_CASE("outlier loss: with P = 2 it is the constant (K-1)/K/T^2 and its gradient vanishes") {
    Rng rng(test::seed() + 1);
    Eigen::MatrixXd const x = rows_with_outliers(50, 16, rng);
    double const t = 2.5;
    for (OutlierStats stats : {OutlierStats::kGlobal, OutlierStats::kPerToken}) {
      CAPTURE(int(stats));
      double const k = stats == OutlierStats::kGlobal ? 50.0 * 16.0 : 16.0;
      OutlierLoss const l2({stats, 2.0, t, 1e-6});
      OutlierLoss const l4({stats, 4.0, t, 1e-6});
      for (std::uint64_t s : {1u, 2u, 3u}) {
        Eigen::MatrixXd const r = haar_orthogonal(16, s);
        Eigen::MatrixXd g2, g4;
        double const v = l2.evaluate(x, r, {}, &g2);
        l4.evaluate(x, r, {}, &g4);
        CHECK(v == doctest::Approx((k - 1) / k / (t * t)).epsilon(1e-5));
        CHECK(g2.norm() <= 1e-5 * g4.norm());
      }
    }
  }

  TEST_CASE("quant-error loss: value, codes held fixed, gradient matches central differences") {
    Rng rng(test::seed() + 2);
    Eigen::MatrixXd const x = rows_with_outliers(30, 16, rng);
    Eigen::MatrixXd const r = haar_orthogonal(16, 5);
    std::vector<double> w(30, 1.0);
    for (std::size_t t = 0; t < 30; t += 7) w[t] = 100.0 * 100.0;
    for (int bits : {4, 3, 8}) {
      CAPTURE(bits);
      QuantErrorLoss const loss({bits, false});
      // Value = Σ w_t ‖y_t − s_t q_t‖² by the scalar grid.
      Eigen::MatrixXd const y = x * r;
      Eigen::MatrixXd const q = loss.codes(y);
      double expected = 0;
      for (Eigen::Index t = 0; t < 30; ++t) {
        double const s = y.row(t).cwiseAbs().maxCoeff() / double((1 << (bits - 1)) - 1);
        expected += w[std::size_t(t)] * (y.row(t) - s * q.row(t)).squaredNorm();
      }
      CHECK(loss.evaluate(x, r, w) == doctest::Approx(expected).epsilon(1e-12));
      // Finite differences with a step small enough that no code flips: check that first.
      double const h = 1e-7;
      for (int k = 0; k < 4; ++k) {
        Eigen::MatrixXd dir = gaussian(16, 16, rng);
        dir /= dir.norm();
        REQUIRE(loss.codes(x * (r + h * dir)) == q);
        REQUIRE(loss.codes(x * (r - h * dir)) == q);
        Eigen::MatrixXd grad;
        loss.evaluate(x, r, w, &grad);
        double const fd = (loss.evaluate(x, r + h * dir, w) - loss.evaluate(x, r - h * dir, w)) / (2 * h);
        double const an = (grad.array() * dir.array()).sum();
        CHECK(std::abs(fd - an) <= 1e-5 * std::max(std::abs(an), 1e-3 * grad.norm()));
      }
    }
    // Without the scale term the gradient would be wrong: 2·w·r alone fails the check.
    QuantErrorLoss const loss;
    Eigen::MatrixXd const y = x * r;
    Eigen::MatrixXd dy;
    loss.value(y, w, &dy);
    Eigen::MatrixXd const q = loss.codes(y);
    Eigen::MatrixXd naive(30, 16);
    for (Eigen::Index t = 0; t < 30; ++t) {
      double const s = y.row(t).cwiseAbs().maxCoeff() / 7.0;
      naive.row(t) = 2.0 * w[std::size_t(t)] * (y.row(t) - s * q.row(t));
    }
    CHECK((naive - dy).norm() > 1e-3 * dy.norm());
    // Zero rows have scale 1 and zero error; mean_over_rows divides by N.
    Eigen::MatrixXd const zero = Eigen::MatrixXd::Zero(3, 16);
    Eigen::MatrixXd gz;
    CHECK(loss.evaluate(zero, r, {}, &gz) == 0.0);
    CHECK(gz.norm() == 0.0);
    QuantErrorLoss const mean({4, true});
    CHECK(mean.evaluate(x, r, w) == doctest::Approx(loss.evaluate(x, r, w) / 30.0).epsilon(1e-12));
    CHECK_THROWS_AS(loss.evaluate(x, r, std::vector<double>(29, 1.0)), ShapeError);
    CHECK_THROWS_AS(QuantErrorLoss({1, false}), UsageError);
  }

  TEST_CASE("optimize_rotation: Cayley SGD lowers the weighted quantization error") {
    std::size_t const d = 32;
    auto const s = test::synthetic_rows(600, d, 30, test::seed() + 3);
    std::vector<double> w(s.n);
    for (std::size_t t = 0; t < s.n; ++t) w[t] = s.massive[t] ? 100.0 * 100.0 : 1.0;
    Eigen::MatrixXd const r0 = RandomHadamardRotation(1).generate(d).matrix;
    QuantErrorLoss const loss({4, true});
    OptimizeRotationOptions o;
    o.steps = 30;
    o.sgd.lr = 1e-4;  // below 1/‖W‖₁: with the cap active every step is as long as ‖αW‖₁ = 1
    o.sgd.mode = CayleyMode::kExact;
    std::size_t calls = 0;
    OptimizeRotationResult const r =
        optimize_rotation(s.view(), r0, loss, o, w, [&](OptimizeRotationStep const&) { ++calls; });
    CHECK(calls == 30);
    REQUIRE(r.loss_curve.size() == 31);
    REQUIRE(r.alpha_curve.size() == 30);
    MESSAGE("quant loss ", r.loss_curve.front(), " -> best ", r.best_loss, " at ", r.best_step, ", alpha_0 ", r.alpha_curve[0]);
    CHECK(r.best_loss < 0.5 * r.loss_curve.front());
    for (double v : r.loss_curve) CHECK(r.best_loss <= v);
    // Exact Cayley steps; the 2e-8 is the floor of SGDG's row normalization (‖row‖ + 1e-8).
    CHECK(orthogonality_error(r.rotation) <= 3e-8);
    CHECK(orthogonality_error(r.best_rotation) <= 3e-8);
    // Re-evaluating the best rotation on all rows gives the recorded loss (full batch).
    Eigen::MatrixXd x(Eigen::Index(s.n), Eigen::Index(d));
    for (std::size_t t = 0; t < s.n; ++t)
      for (std::size_t j = 0; j < d; ++j) x(Eigen::Index(t), Eigen::Index(j)) = static_cast<double>(s.data[t * d + j]);
    CHECK(loss.evaluate(x, r.best_rotation, w) == doctest::Approx(r.best_loss).epsilon(1e-12));
    // Mini-batches run and stay orthogonal.
    o.batch_rows = 128;
    o.steps = 10;
    OptimizeRotationResult const mb = optimize_rotation(s.view(), r0, loss, o, w);
    CHECK(mb.loss_curve.size() == 11);
    CHECK(orthogonality_error(mb.rotation) <= 3e-8);
    CHECK_THROWS_AS(optimize_rotation(s.view(), Eigen::MatrixXd::Identity(31, 31), loss, o),
                    ShapeError);
    CHECK_THROWS_AS(optimize_rotation(s.view(), r0, loss, o, std::vector<double>(3, 1.0)),
                    ShapeError);
  }

  TEST_CASE("optimize_rotation: the P = 4 outlier loss falls, the P = 2 one leaves R at its init") {
    Rng rng(test::seed() + 4);
    std::size_t const n = 400, d = 16;
    Eigen::MatrixXd const xd = rows_with_outliers(Eigen::Index(n), Eigen::Index(d), rng);
    std::vector<float> xf(n * d);
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t j = 0; j < d; ++j) xf[t * d + j] = float(xd(Eigen::Index(t), Eigen::Index(j)));
    MatrixView<float const> const xv(xf.data(), n, d);
    Eigen::MatrixXd const r0 = RandomHadamardRotation(2).generate(d).matrix;
    OptimizeRotationOptions o;
    o.steps = 60;
    o.sgd.lr = 1.5;  // SpinQuant's lr (QuaRot_extended's 0.01 barely moves this small loss)
    OutlierLoss const p4({OutlierStats::kPerToken, 4.0, 2.5, 1e-6});
    OptimizeRotationResult const r4 = optimize_rotation(xv, r0, p4, o);
    CHECK(r4.best_loss < 0.95 * r4.loss_curve.front());
    CHECK(orthogonality_error(r4.rotation) <= 1e-6);
    OutlierLoss const p2({OutlierStats::kGlobal, 2.0, 2.5, 1e-6});
    OptimizeRotationResult const r2 = optimize_rotation(xv, r0, p2, o);
    CHECK((r2.rotation - r0).cwiseAbs().maxCoeff() <= 1e-6);
    MESSAGE("P=4: ", r4.loss_curve.front(), " -> ", r4.best_loss, "; P=2 moved R by ",
            (r2.rotation - r0).cwiseAbs().maxCoeff());
  }
}
