// SPDX-License-Identifier: Apache-2.0
// CayleySgd: SpinQuant's SGDG update on square orthogonal matrices (ALGORITHMS.md §5.3), with the
// reference 5-step fixed-point Cayley iteration or an exact linear solve.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>

#include <Eigen/Core>
#include <Eigen/LU>
#include <Eigen/QR>

#include "dfrot/core/error.hpp"
#include "dfrot/core/rng.hpp"

namespace dfrot::rotation {

/// How the Cayley retraction Y = (I − ½αW)⁻¹(I + ½αW)·Xᵀ is evaluated.
enum class CayleyMode {
  kFixedPoint,  ///< SpinQuant: Y₀ = Xᵀ + αM, then k times Y ← Xᵀ + αW(Xᵀ + Y)/2 (parity)
  kExact,       ///< one LU solve; orthogonal to rounding for any α
};

/// Settings of CayleySgd. Defaults are SpinQuant's (lr 1.5, 5 fixed-point steps, QR with
/// probability 1/101, no schedule).
struct CayleySgdOptions {
  double lr = 1.5;
  CayleyMode mode = CayleyMode::kFixedPoint;
  int fixed_point_iterations = 5;
  double qr_probability = 1.0 / 101.0;  ///< SpinQuant: random.randint(1, 101) == 1
  std::uint64_t seed = 0;               ///< of the QR draws
  /// Cosine decay lr_t = lr·½(1 + cos(π t / total_steps)) (HF "cosine", no warm-up); 0 = constant.
  std::size_t cosine_total_steps = 0;
};

/// What one step did.
struct CayleyStepInfo {
  double lr = 0;       ///< scheduled lr_t
  double alpha = 0;    ///< α = min(lr_t, 1/(‖W‖₁ + 1e-8))
  double w_norm1 = 0;  ///< ‖W‖₁, max column absolute sum
  bool qr = false;     ///< the random QR re-orthonormalization ran
};

/// SGD on the orthogonal group, SpinQuant's SGDG with momentum 0 (its momentum buffer never
/// persists, ALGORITHMS.md §5.3 step 7). For a parameter X (n×n) and the Euclidean gradient G:
///  1. X ← rows of X divided by (‖row‖₂ + 1e-8);
///  2. with probability `qr_probability`: X ← sign-fixed QR of Xᵀ, transposed back;
///  3. M = −Gᵀ; Ŵ = M X − ½ Xᵀ (X M X); W = Ŵ − Ŵᵀ (for orthogonal X: W = ½(XᵀG − GᵀX));
///  4. α = min(lr_t, 1/(‖W‖₁ + 1e-8));
///  5. Cayley step in the transposed frame, X ← Yᵀ with Y from `mode`.
/// Fixed-point mode contracts by ½α‖W‖₂ ≤ ½ per iteration, so after k iterations it differs from
/// the exact Cayley step by O((α‖W‖)^(k+1)) and is orthogonal only to that order: at large α (the
/// 1/‖W‖₁ cap is active, as with SpinQuant's lr 1.5) each step leaves an orthogonality error that
/// only steps 1–2 repair. Exact mode is orthogonal to rounding at any α.
class CayleySgd {
 public:
  explicit CayleySgd(CayleySgdOptions const& opts = {}) : opts_(opts), rng_(opts.seed) {
    DFROT_THROW_IF(!(opts.lr > 0.0 && std::isfinite(opts.lr)), UsageError, "CayleySgd: lr ",
                   opts.lr, ": expected a finite value > 0");
    DFROT_THROW_IF(opts.fixed_point_iterations < 0, UsageError,
                   "CayleySgd: fixed-point iterations ", opts.fixed_point_iterations,
                   ": expected >= 0");
    DFROT_THROW_IF(!(opts.qr_probability >= 0.0 && opts.qr_probability <= 1.0), UsageError,
                   "CayleySgd: QR probability ", opts.qr_probability, ": expected 0 ... 1");
  }

  CayleySgdOptions const& options() const noexcept { return opts_; }
  std::size_t steps_taken() const noexcept { return step_; }

  /// lr_t of step t (0-based): constant, or the cosine schedule.
  double learning_rate(std::size_t t) const {
    if (opts_.cosine_total_steps == 0) return opts_.lr;
    double const p = std::min(1.0, static_cast<double>(t) / static_cast<double>(opts_.cosine_total_steps));
    return opts_.lr * 0.5 * (1.0 + std::cos(std::numbers::pi * p));
  }

  /// One update of `x` (n×n) with Euclidean gradient `g` = ∂L/∂X.
  /// \throws ShapeError for non-square or mismatched shapes, NumericError for non-finite input.
  CayleyStepInfo step(Eigen::MatrixXd& x, Eigen::MatrixXd const& g) {
    DFROT_THROW_IF(x.rows() != x.cols() || x.rows() == 0, ShapeError,
                   "CayleySgd: the parameter must be a non-empty square matrix, got ", x.rows(),
                   "x", x.cols());
    DFROT_THROW_IF(g.rows() != x.rows() || g.cols() != x.cols(), ShapeError,
                   "CayleySgd: gradient is ", g.rows(), "x", g.cols(), " but the parameter is ",
                   x.rows(), "x", x.cols());
    DFROT_THROW_IF(!x.allFinite() || !g.allFinite(), NumericError,
                   "CayleySgd: parameter or gradient contains NaN or Inf at step ", step_);
    CayleyStepInfo info;
    info.lr = learning_rate(step_);
    ++step_;
    Eigen::Index const n = x.rows();
    // 1. unit rows
    for (Eigen::Index i = 0; i < n; ++i) x.row(i) /= (x.row(i).norm() + 1e-8);
    // 2. occasional sign-fixed QR of Xᵀ (the draw happens every step, as in the reference)
    if (rng_.uniform() < opts_.qr_probability) {
      Eigen::HouseholderQR<Eigen::MatrixXd> const qr(x.transpose());
      Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(n, n);
      for (Eigen::Index i = 0; i < n; ++i) {
        if (qr.matrixQR()(i, i) < 0) q.col(i) *= -1.0;
      }
      x = q.transpose();
      info.qr = true;
    }
    // 3. skew-symmetric direction
    Eigen::MatrixXd const m = -g.transpose();
    Eigen::MatrixXd const mx = m * x;
    Eigen::MatrixXd const xmx = x * mx;
    Eigen::MatrixXd const w_hat = mx - 0.5 * (x.transpose() * xmx);
    Eigen::MatrixXd const w = w_hat - w_hat.transpose();
    // 4. step size
    info.w_norm1 = w.cwiseAbs().colwise().sum().maxCoeff();
    info.alpha = std::min(info.lr, 1.0 / (info.w_norm1 + 1e-8));
    double const a = info.alpha;
    // 5. Cayley retraction in the transposed frame
    Eigen::MatrixXd const xt = x.transpose();
    Eigen::MatrixXd y;
    if (opts_.mode == CayleyMode::kExact) {
      Eigen::MatrixXd const id = Eigen::MatrixXd::Identity(n, n);
      Eigen::MatrixXd const rhs = xt + (0.5 * a) * (w * xt);
      y = Eigen::PartialPivLU<Eigen::MatrixXd>(id - (0.5 * a) * w).solve(rhs);
    } else {
      y = xt + a * m;
      for (int k = 0; k < opts_.fixed_point_iterations; ++k) {
        Eigen::MatrixXd const mid = 0.5 * (xt + y);
        y = xt + a * (w * mid);
      }
    }
    x = y.transpose();
    return info;
  }

 private:
  CayleySgdOptions opts_;
  Rng rng_;
  std::size_t step_ = 0;
};

}  // namespace dfrot::rotation
