// SPDX-License-Identifier: Apache-2.0
// DFRot's weighted alternating Procrustes: the polar factor recovers a planted rotation, the
// backend's cross product, α-weighting ≡ scaling the data, refinement on planted massive tokens,
// best-iterate tracking, early stopping and shape errors.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "dfrot/quant/activation_quant.hpp"
#include "dfrot/quant/grid.hpp"
#include "dfrot/rotation/massive_tokens.hpp"
#include "dfrot/rotation/procrustes.hpp"
#include "dfrot/rotation/random_hadamard.hpp"
#include "dfrot/rotation/random_orthogonal.hpp"
#include "rotation/rotation_test_util.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::rotation;

namespace {

double weighted_error_of(test::SyntheticRows const& s, Eigen::MatrixXd const& r, double alpha) {
  std::vector<double> const e = rotated_token_quant_errors(s.view(), r, 4, 2);
  double sum = 0;
  for (std::size_t t = 0; t < s.n; ++t) sum += (s.massive[t] ? alpha * alpha : 1.0) * e[t] * e[t];
  return std::sqrt(sum);
}

}  // namespace

TEST_SUITE("rotation") {
  TEST_CASE("procrustes: the polar factor of Yᵀ·(Y·Q) is Q") {
    Rng rng(test::seed());
    Eigen::MatrixXd y(300, 32);
    for (Eigen::Index i = 0; i < y.size(); ++i) y.data()[i] = rng.normal();
    Eigen::MatrixXd const q = haar_orthogonal(32, 7);
    Eigen::MatrixXd const p = polar_factor(y.transpose() * (y * q));
    CHECK((p - q).cwiseAbs().maxCoeff() <= 1e-10);
    CHECK(orthogonality_error(p) <= 1e-12);
    // orthonormalize_qr keeps an orthogonal matrix (diag R > 0 ⇒ no sign flips) and repairs drift.
    CHECK((orthonormalize_qr(q) - q).cwiseAbs().maxCoeff() <= 1e-12);
    Eigen::MatrixXd drift = q;
    drift(3, 4) += 1e-7;
    CHECK(orthogonality_error(orthonormalize_qr(drift)) <= 1e-14);
    CHECK((orthonormalize_qr(drift) - q).cwiseAbs().maxCoeff() <= 1e-6);
    CHECK_THROWS_AS(polar_factor(Eigen::MatrixXd::Zero(3, 4)), ShapeError);
    Eigen::MatrixXd bad = Eigen::MatrixXd::Identity(3, 3);
    bad(0, 0) = std::nan("");
    CHECK_THROWS_AS(polar_factor(bad), NumericError);
  }

  TEST_CASE("procrustes: backend cross product and errors match a float64 reference") {
    auto const s = test::synthetic_rows(1500, 48, 25, test::seed() + 3);
    Eigen::MatrixXd const c = RandomHadamardRotation(1).generate(48).matrix;
    std::vector<double> w(s.n, 1.0);
    for (std::size_t t = 0; t < s.n; ++t) w[t] = s.massive[t] ? 64.0 : 1.0;
    EigenProcrustesBackend be(2, 256);  // several blocks per thread
    be.bind(s.view(), w, 4);
    ProcrustesEvaluation ev;
    be.evaluate(c, true, ev);
    // Reference in float64: Y = A·C, B = Qz(Y) by the scalar grid, M = Σ w_t y_tᵀ b_t.
    auto const g = quant::make_grid<double>(4, quant::Symmetry::kSym);
    Eigen::MatrixXd m_ref = Eigen::MatrixXd::Zero(48, 48);
    for (std::size_t t = 0; t < s.n; ++t) {
      Eigen::RowVectorXd a(48);
      for (Eigen::Index j = 0; j < 48; ++j) a(j) = static_cast<double>(s.data[t * 48 + std::size_t(j)]);
      Eigen::RowVectorXd const y = a * c;
      auto const p = quant::activation_params<double>(std::min(0.0, y.minCoeff()),
                                                      std::max(0.0, y.maxCoeff()), g);
      Eigen::RowVectorXd b(48);
      for (Eigen::Index j = 0; j < 48; ++j) b(j) = quant::fake_quantize(y(j), p, g);
      m_ref += w[t] * y.transpose() * b;
      CHECK(ev.row_sq_error[t] == doctest::Approx((y - b).squaredNorm()).epsilon(1e-3));
    }
    CHECK((ev.cross - m_ref).cwiseAbs().maxCoeff() <= 1e-4 * m_ref.cwiseAbs().maxCoeff());
    // Thread count and block size do not change the result beyond float rounding.
    EigenProcrustesBackend be1(1, 4096);
    be1.bind(s.view(), w, 4);
    ProcrustesEvaluation ev1;
    be1.evaluate(c, true, ev1);
    CHECK((ev1.cross - ev.cross).cwiseAbs().maxCoeff() <= 1e-5 * m_ref.cwiseAbs().maxCoeff());
    be1.evaluate(c, false, ev1);
    CHECK(ev1.cross.size() == 0);
    CHECK_THROWS_AS(be1.evaluate(Eigen::MatrixXd::Identity(47, 47), true, ev1), ShapeError);
    CHECK_THROWS_AS(be1.bind(s.view(), std::vector<double>(3, 1.0), 4), ShapeError);
  }

  TEST_CASE("procrustes: Qz(α·y) = α·Qz(y) for α = 2^k, so weight α² ≡ scaling rows by α") {
    auto const s = test::synthetic_rows(1200, 64, 20, test::seed() + 4);
    // Scale equivariance of the float32 kernel, bit for bit.
    std::vector<float> x = s.data, x16 = s.data;
    for (float& v : x16) v *= 16.0f;
    std::vector<float> qx(x.size()), qx16(x.size());
    quant::QuantConfig const cfg = massive_token_quantizer(4);
    quant::fake_quantize_activations(MatrixView<float const>(x.data(), s.n, s.d),
                                     MatrixView<float>(qx.data(), s.n, s.d), cfg);
    quant::fake_quantize_activations(MatrixView<float const>(x16.data(), s.n, s.d),
                                     MatrixView<float>(qx16.data(), s.n, s.d), cfg);
    for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(qx16[i] == 16.0f * qx[i]);

    // Weighted run (alpha = 4 on the mask) vs unweighted run on data with massive rows × 4.
    test::SyntheticRows scaled = s;
    for (std::size_t t = 0; t < s.n; ++t) {
      if (s.massive[t]) {
        for (std::size_t j = 0; j < s.d; ++j) scaled.data[t * s.d + j] *= 4.0f;
      }
    }
    Eigen::MatrixXd const r0 = RandomHadamardRotation(5).generate(64).matrix;
    ProcrustesConfig cfg_w;
    cfg_w.alpha = 4.0;
    cfg_w.iterations = 5;
    cfg_w.patience = 0;
    cfg_w.n_threads = 2;
    ProcrustesConfig cfg_s = cfg_w;
    cfg_s.alpha = 1.0;
    ProcrustesResult const rw = refine_rotation_procrustes(s.view(), r0, s.massive, cfg_w);
    ProcrustesResult const rs = refine_rotation_procrustes(scaled.view(), r0, {}, cfg_s);
    REQUIRE(rw.weighted_error_curve.size() == 6);
    for (std::size_t k = 0; k < 6; ++k) {
      CHECK(rw.weighted_error_curve[k] == doctest::Approx(rs.error_curve[k]).epsilon(1e-12));
    }
    CHECK((rw.rotation - rs.rotation).cwiseAbs().maxCoeff() <= 1e-9);
    // Weighted² = Σ ordinary e² + α² Σ massive e², the unweighted curve is Σ e².
    CHECK(rw.weighted_error_curve[0] == doctest::Approx(weighted_error_of(s, r0, 4.0)).epsilon(1e-6));
    CHECK(rw.error_curve[0] == doctest::Approx(weighted_error_of(s, r0, 1.0)).epsilon(1e-6));
    CHECK(rw.n_massive == 60);
  }

  TEST_CASE("procrustes: refinement lowers the weighted error on planted massive tokens") {
    std::size_t const d = 64;
    auto const s = test::synthetic_rows(4000, d, 33, test::seed() + 5);
    Eigen::MatrixXd const r0 = RandomHadamardRotation(42).generate(d).matrix;
    ProcrustesConfig cfg;
    cfg.alpha = 100.0;
    cfg.iterations = 40;
    cfg.patience = 0;
    cfg.n_threads = 2;
    std::vector<ProcrustesIterate> seen;
    ProcrustesResult const r = refine_rotation_procrustes(
        s.view(), r0, s.massive, cfg, nullptr, [&](ProcrustesIterate const& it) { seen.push_back(it); });
    REQUIRE(r.weighted_error_curve.size() == 41);
    REQUIRE(r.error_curve.size() == 41);
    REQUIRE(seen.size() == 41);
    CHECK(r.iterations_run == 40);
    CHECK(r.stop == ProcrustesStop::kMaxIterations);
    CHECK(r.backend == "eigen-cpu");
    double const start = r.weighted_error_curve[0];
    MESSAGE("weighted error: start ", start, ", best ", r.best_weighted_error, " at iteration ",
            r.best_iteration, ", last ", r.weighted_error_curve.back());
    CHECK(r.best_weighted_error < 0.9 * start);
    for (std::size_t k = 0; k < seen.size(); ++k) {
      CHECK(seen[k].iteration == int(k));
      CHECK(seen[k].weighted_error == r.weighted_error_curve[k]);
      CHECK(r.best_weighted_error <= r.weighted_error_curve[k]);
    }
    CHECK(r.weighted_error_curve[std::size_t(r.best_iteration)] == r.best_weighted_error);
    CHECK(orthogonality_error(r.rotation) <= 1e-10);
    CHECK(orthogonality_error(r.refinement) <= 1e-10);
    CHECK((r0 * r.refinement - r.rotation).cwiseAbs().maxCoeff() <= 1e-12);
    // The returned rotation really has the reported error.
    CHECK(weighted_error_of(s, r.rotation, 100.0) ==
          doctest::Approx(r.best_weighted_error).epsilon(1e-5));
    // The massive tokens' own error falls (they are what α weights).
    std::vector<double> const e0 = rotated_token_quant_errors(s.view(), r0, 4, 2);
    std::vector<double> const e1 = rotated_token_quant_errors(s.view(), r.rotation, 4, 2);
    double m0 = 0, m1 = 0;
    for (std::size_t t = 0; t < s.n; ++t) {
      if (s.massive[t]) {
        m0 += e0[t] * e0[t];
        m1 += e1[t] * e1[t];
      }
    }
    CHECK(m1 < 0.8 * m0);
    // Same seed and data: deterministic.
    ProcrustesConfig cfg5 = cfg;
    cfg5.iterations = 5;
    CHECK(refine_rotation_procrustes(s.view(), r0, s.massive, cfg5).rotation ==
          refine_rotation_procrustes(s.view(), r0, s.massive, cfg5).rotation);
    Rotation const rot = procrustes_rotation(r, "hadamard", 42);
    CHECK(rot.kind == "procrustes");
    CHECK(rot.size() == d);
  }

  TEST_CASE("procrustes: early stopping and zero iterations") {
    auto const s = test::synthetic_rows(1000, 32, 25, test::seed() + 6);
    Eigen::MatrixXd const r0 = haar_orthogonal(32, 3);
    ProcrustesConfig cfg;
    cfg.iterations = 50;
    cfg.tolerance = 0.99;  // no step cuts the error by 99%
    cfg.patience = 2;
    cfg.n_threads = 1;
    ProcrustesResult const r = refine_rotation_procrustes(s.view(), r0, s.massive, cfg);
    CHECK(r.stop == ProcrustesStop::kNoImprovement);
    CHECK(to_string(r.stop) == "no-improvement");
    CHECK(r.iterations_run == 2);
    CHECK(r.weighted_error_curve.size() == 3);
    CHECK(r.iteration_seconds.size() == 3);
    CHECK(orthogonality_error(r.rotation) <= 1e-10);

    cfg.iterations = 0;
    ProcrustesResult const z = refine_rotation_procrustes(s.view(), r0, s.massive, cfg);
    CHECK(z.iterations_run == 0);
    CHECK(z.weighted_error_curve.size() == 1);
    CHECK(z.rotation == r0);
    CHECK(z.best_iteration == 0);
  }

  TEST_CASE("procrustes: bad shapes and configs throw") {
    auto const s = test::synthetic_rows(100, 16, 10, test::seed() + 7);
    Eigen::MatrixXd const r0 = haar_orthogonal(16, 1);
    ProcrustesConfig cfg;
    cfg.iterations = 1;
    CHECK_THROWS_AS(refine_rotation_procrustes(s.view(), haar_orthogonal(15, 1), s.massive, cfg),
                    ShapeError);
    CHECK_THROWS_AS(refine_rotation_procrustes(s.view(), Eigen::MatrixXd::Identity(16, 8), s.massive, cfg),
                    ShapeError);
    std::vector<std::uint8_t> const short_mask(99, 0);
    CHECK_THROWS_AS(refine_rotation_procrustes(s.view(), r0, short_mask, cfg), ShapeError);
    CHECK_THROWS_AS(refine_rotation_procrustes(MatrixView<float const>(s.data.data(), 0, 16), r0,
                                               {}, cfg),
                    ShapeError);
    CHECK_THROWS_AS(refine_rotation_procrustes(s.view(), 2.0 * r0, s.massive, cfg), UsageError);
    ProcrustesConfig bad = cfg;
    bad.alpha = 0;
    CHECK_THROWS_AS(refine_rotation_procrustes(s.view(), r0, s.massive, bad), UsageError);
    bad = cfg;
    bad.bits = 1;
    CHECK_THROWS_AS(refine_rotation_procrustes(s.view(), r0, s.massive, bad), UsageError);
    bad = cfg;
    bad.tolerance = 1.0;
    CHECK_THROWS_AS(refine_rotation_procrustes(s.view(), r0, s.massive, bad), UsageError);
    std::vector<float> nan_rows = s.data;
    nan_rows[5] = std::nanf("");
    CHECK_THROWS_AS(refine_rotation_procrustes(MatrixView<float const>(nan_rows.data(), 100, 16), r0,
                                               s.massive, cfg),
                    NumericError);
  }
}
