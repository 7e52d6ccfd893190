// SPDX-License-Identifier: Apache-2.0
// Differentiable losses of rotated data Y = X·R with analytic gradients dL/dR: QuaRot_extended's
// outlier loss (ALGORITHMS.md §6.1) and DFRot's weighted per-token quantization error (§4.4).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>

#include <Eigen/Core>

#include "dfrot/core/error.hpp"
#include "dfrot/quant/grid.hpp"
#include "dfrot/quant/quant_config.hpp"

namespace dfrot::rotation {

/// A loss L(Y) of rotated rows Y = X·R. evaluate() applies the chain rule dL/dR = Xᵀ·dL/dY, so
/// implementations only differentiate with respect to Y. Everything is float64.
class RotationLoss {
 public:
  virtual ~RotationLoss() = default;
  virtual std::string name() const = 0;

  /// L(X·R) for rows x [N×d] and rotation r (d×d); fills *grad with dL/dR when grad != nullptr.
  /// `weights` [N] weight the rows (empty = all 1; losses without row weights reject others).
  /// \throws ShapeError for mismatched shapes, UsageError for unsupported weights.
  double evaluate(Eigen::MatrixXd const& x, Eigen::MatrixXd const& r,
                  std::span<double const> weights = {}, Eigen::MatrixXd* grad = nullptr) const {
    DFROT_THROW_IF(r.rows() != r.cols() || r.rows() != x.cols() || x.rows() == 0, ShapeError,
                   name(), ": rows are ", x.rows(), "x", x.cols(), " but the rotation is ",
                   r.rows(), "x", r.cols());
    DFROT_THROW_IF(!weights.empty() && weights.size() != static_cast<std::size_t>(x.rows()),
                   ShapeError, name(), ": ", weights.size(), " weights for ", x.rows(), " rows");
    Eigen::MatrixXd const y = x * r;
    if (grad == nullptr) return value(y, weights, nullptr);
    Eigen::MatrixXd dy;
    double const v = value(y, weights, &dy);
    *grad = x.transpose() * dy;
    return v;
  }

  /// L(Y) and, when dy != nullptr, dL/dY (same shape as y).
  virtual double value(Eigen::MatrixXd const& y, std::span<double const> weights,
                       Eigen::MatrixXd* dy) const = 0;
};

/// Where the outlier loss takes μ and σ from.
enum class OutlierStats {
  kGlobal,    ///< pooled over all elements (QuaRot_extended's code)
  kPerToken,  ///< per row
};

struct OutlierLossOptions {
  OutlierStats stats = OutlierStats::kGlobal;
  double power = 2.0;        ///< P (report: 2; that makes the loss constant, see OutlierLoss)
  double temperature = 2.5;  ///< T
  double eps = 1e-6;         ///< added to σ
};

/// s(Y) = mean_ij( (|y_ij − μ| / (σ + ε) / T)^P ) with μ and unbiased σ of all elements or of
/// each row (ALGORITHMS.md §6.1; L = 10⁴·(s(out) − const) there). The gradient includes the paths
/// through μ and σ. With P = 2 the loss is constant: every group of K elements has
/// Σ z² = (K − 1)·σ²/(σ + ε)², so s = (K − 1)/K·T⁻² up to ε for global *and* per-token
/// statistics, and its gradient is ~0 — the reason QuaRot_extended's Q stays at its init. P = 4
/// (a kurtosis penalty) is the meaningful setting. Row weights are not supported.
class OutlierLoss final : public RotationLoss {
 public:
  explicit OutlierLoss(OutlierLossOptions const& opts = {}) : opts_(opts) {
    DFROT_THROW_IF(!(opts.power >= 1.0 && std::isfinite(opts.power)), UsageError,
                   "OutlierLoss: power ", opts.power, ": expected a finite P >= 1");
    DFROT_THROW_IF(!(opts.temperature > 0.0 && std::isfinite(opts.temperature)), UsageError,
                   "OutlierLoss: temperature ", opts.temperature, ": expected a finite T > 0");
    DFROT_THROW_IF(!(opts.eps >= 0.0), UsageError, "OutlierLoss: eps ", opts.eps,
                   ": expected >= 0");
  }
  std::string name() const override { return "outlier-loss"; }
  OutlierLossOptions const& options() const noexcept { return opts_; }

  double value(Eigen::MatrixXd const& y, std::span<double const> weights,
               Eigen::MatrixXd* dy) const override {
    DFROT_THROW_IF(!weights.empty(), UsageError, name(), ": row weights are not supported");
    double const total = static_cast<double>(y.size());
    if (dy != nullptr) dy->resize(y.rows(), y.cols());
    if (opts_.stats == OutlierStats::kGlobal) {
      DFROT_THROW_IF(y.size() < 2, ShapeError, name(), ": needs at least 2 elements");
      Eigen::Map<Eigen::VectorXd const> const v(y.data(), y.size());  // order is irrelevant
      if (dy == nullptr) return group(v, total, static_cast<Eigen::VectorXd*>(nullptr));
      Eigen::Map<Eigen::VectorXd> g(dy->data(), dy->size());
      return group(v, total, &g);
    }
    DFROT_THROW_IF(y.cols() < 2, ShapeError, name(), ": per-token statistics need rows of >= 2");
    double sum = 0;
    Eigen::VectorXd row, g;
    for (Eigen::Index i = 0; i < y.rows(); ++i) {
      row = y.row(i).transpose();
      if (dy == nullptr) {
        sum += group(row, total, static_cast<Eigen::VectorXd*>(nullptr));
      } else {
        g.resize(row.size());
        sum += group(row, total, &g);
        dy->row(i) = g.transpose();
      }
    }
    return sum;
  }

 private:
  /// Σ over one group of (|z|/T)^P / total, and its gradient with respect to the group's values.
  template <class V, class G>
  double group(V const& v, double total, G* grad) const {
    auto const k = static_cast<double>(v.size());
    double const mu = v.mean();
    double const var = (v.array() - mu).square().sum() / (k - 1.0);
    double const sigma = std::sqrt(var);
    double const denom = sigma + opts_.eps;
    double const p = opts_.power, t = opts_.temperature;
    double const tp = std::pow(t, p);
    double s = 0, sum_g = 0, sum_gc = 0;
    for (Eigen::Index i = 0; i < v.size(); ++i) {
      double const c = v(i) - mu;
      double const az = std::abs(c) / denom;
      s += std::pow(az, p) / tp;
      if (grad != nullptr) {
        // ∂/∂z of |z|^P/(T^P·total)
        double const gz = az == 0.0 ? 0.0
                                    : p * std::pow(az, p - 1.0) * (c < 0 ? -1.0 : 1.0) / tp / total;
        (*grad)(i) = gz;
        sum_g += gz;
        sum_gc += gz * c;
      }
    }
    if (grad != nullptr) {
      // z_i = c_i/(σ+ε): ∂z_k/∂v_i = (δ_ki − 1/K)/(σ+ε) − c_k/(σ+ε)² · ∂σ/∂v_i, with
      // ∂σ/∂v_i = c_i/((K−1)σ) (0 for a constant group).
      double const sigma_term = sigma > 0 ? sum_gc / (denom * denom) / ((k - 1.0) * sigma) : 0.0;
      for (Eigen::Index i = 0; i < v.size(); ++i) {
        double const c = v(i) - mu;
        (*grad)(i) = (*grad)(i) / denom - sum_g / (k * denom) - sigma_term * c;
      }
    }
    return s / total;
  }

  OutlierLossOptions opts_;
};

struct QuantErrorLossOptions {
  int bits = 4;
  bool mean_over_rows = false;  ///< divide by N (batch-size independent step sizes)
};

/// DFRot's objective as a differentiable loss: L = Σ_t w_t ‖y_t − Qz(y_t)‖² with Qz the per-token
/// symmetric absmax b-bit quantizer (clip 1, round half to even), weights w_t (α² for massive
/// tokens; empty = 1). L is piecewise smooth: between code changes the integer codes q_t are
/// constant and Qz(y_t) = s_t·q_t with s_t = max_j |y_tj|/maxq, so the gradient we return is the
/// almost-everywhere derivative with the codes held fixed,
///   ∂L/∂y_tj = 2 w_t r_tj − [j = m_t]·2 w_t (Σ_k r_tk q_tk)·sign(y_tm)/maxq,  r = y − s q,
/// where m_t is the element that sets the scale (the scale's dependence on y is the second term;
/// the zero-range row has the constant scale 1). It is exact wherever no code flips and the argmax
/// does not change; the jumps at code flips are ignored (no straight-through term).
class QuantErrorLoss final : public RotationLoss {
 public:
  explicit QuantErrorLoss(QuantErrorLossOptions const& opts = {}) : opts_(opts) {
    quant::QuantConfig cfg;
    cfg.bits = opts.bits;
    quant::validate(cfg, "QuantErrorLoss");
  }
  std::string name() const override { return "quant-error-loss"; }

  /// The integer codes of every element of y (as doubles), for diagnostics and tests.
  Eigen::MatrixXd codes(Eigen::MatrixXd const& y) const {
    Eigen::MatrixXd q(y.rows(), y.cols());
    auto const g = grid();
    for (Eigen::Index t = 0; t < y.rows(); ++t) {
      auto const p = params(y.row(t), g);
      for (Eigen::Index j = 0; j < y.cols(); ++j) q(t, j) = quant::quantize_code(y(t, j), p, g);
    }
    return q;
  }

  double value(Eigen::MatrixXd const& y, std::span<double const> weights,
               Eigen::MatrixXd* dy) const override {
    DFROT_THROW_IF(!weights.empty() && weights.size() != static_cast<std::size_t>(y.rows()),
                   ShapeError, name(), ": ", weights.size(), " weights for ", y.rows(), " rows");
    auto const g = grid();
    double const norm = opts_.mean_over_rows ? 1.0 / static_cast<double>(y.rows()) : 1.0;
    if (dy != nullptr) dy->resize(y.rows(), y.cols());
    double total = 0;
    for (Eigen::Index t = 0; t < y.rows(); ++t) {
      double const w = (weights.empty() ? 1.0 : weights[static_cast<std::size_t>(t)]) * norm;
      auto const p = params(y.row(t), g);
      double e = 0, rq = 0;
      Eigen::Index m = 0;
      double amax = -1;
      for (Eigen::Index j = 0; j < y.cols(); ++j) {
        double const q = quant::quantize_code(y(t, j), p, g);
        double const r = y(t, j) - p.scale * q;
        e += r * r;
        rq += r * q;
        if (std::abs(y(t, j)) > amax) {
          amax = std::abs(y(t, j));
          m = j;
        }
        if (dy != nullptr) (*dy)(t, j) = 2.0 * w * r;
      }
      if (dy != nullptr && amax > 0) {
        (*dy)(t, m) -= 2.0 * w * rq * (y(t, m) < 0 ? -1.0 : 1.0) / g.maxq;
      }
      total += w * e;
    }
    return total;
  }

 private:
  quant::Grid<double> grid() const {
    return quant::make_grid<double>(opts_.bits, quant::Symmetry::kSym);
  }
  template <class Row>
  static quant::QuantParams<double> params(Row const& row, quant::Grid<double> const& g) {
    return quant::activation_params<double>(std::min(0.0, row.minCoeff()),
                                            std::max(0.0, row.maxCoeff()), g);
  }

  QuantErrorLossOptions opts_;
};

}  // namespace dfrot::rotation
