// SPDX-License-Identifier: Apache-2.0
// optimize_rotation: Cayley SGD (cayley_sgd.hpp) of a RotationLoss (rotation_losses.hpp) over
// calibration rows, full batch or random mini-batches, with loss curve and best iterate.
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/rng.hpp"
#include "dfrot/rotation/cayley_sgd.hpp"
#include "dfrot/rotation/rotation_losses.hpp"

namespace dfrot::rotation {

struct OptimizeRotationOptions {
  CayleySgdOptions sgd;
  std::size_t steps = 100;
  std::size_t batch_rows = 0;  ///< rows per step, drawn without replacement; 0 = all rows
  std::uint64_t batch_seed = 0;
};

/// One step as reported to the progress callback.
struct OptimizeRotationStep {
  std::size_t step = 0;  ///< 0-based; loss is L(R_step) on this step's batch
  double loss = 0;
  CayleyStepInfo sgd;
};

using OptimizeRotationProgress = std::function<void(OptimizeRotationStep const&)>;

struct OptimizeRotationResult {
  Eigen::MatrixXd rotation;       ///< the last iterate R_steps
  Eigen::MatrixXd best_rotation;  ///< the iterate with the lowest recorded loss
  std::size_t best_step = 0;
  double best_loss = 0;
  /// loss_curve[k] = L(R_k) on batch k for k < steps; the last entry is L(R_steps) on all rows
  /// (full batch) or on one more batch.
  std::vector<double> loss_curve;
  std::vector<double> alpha_curve;  ///< step sizes α_k
  double seconds = 0;
};

/// Minimizes `loss`(X·R) over orthogonal R from r0 by `opts.steps` Cayley-SGD steps. Rows are
/// converted to float64 (all at once for the full batch, per batch otherwise). With mini-batches
/// the loss curve and the best iterate are on each step's batch (noisy; evaluate the returned
/// rotations on held-out rows to choose).
/// \param row_weights [N] per-row weights passed to the loss (empty = none)
/// \throws ShapeError for mismatched shapes, and what the loss and CayleySgd throw.
inline OptimizeRotationResult optimize_rotation(MatrixView<float const> x,
                                                Eigen::MatrixXd const& r0, RotationLoss const& loss,
                                                OptimizeRotationOptions const& opts,
                                                std::span<double const> row_weights = {},
                                                OptimizeRotationProgress const& progress = {}) {
  auto const t0 = std::chrono::steady_clock::now();
  std::size_t const n = x.rows(), d = x.cols();
  DFROT_THROW_IF(n == 0 || d == 0, ShapeError, "optimize_rotation: no rows (", n, "x", d, ")");
  DFROT_THROW_IF(static_cast<std::size_t>(r0.rows()) != d || static_cast<std::size_t>(r0.cols()) != d,
                 ShapeError, "optimize_rotation: start rotation is ", r0.rows(), "x", r0.cols(),
                 " but rows are ", d, " wide");
  DFROT_THROW_IF(!row_weights.empty() && row_weights.size() != n, ShapeError,
                 "optimize_rotation: ", row_weights.size(), " weights for ", n, " rows");
  bool const full = opts.batch_rows == 0 || opts.batch_rows >= n;
  std::size_t const b = full ? n : opts.batch_rows;
  auto const dd = static_cast<Eigen::Index>(d);
  Eigen::MatrixXd batch(static_cast<Eigen::Index>(b), dd);
  std::vector<double> batch_w;
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  Rng rng(opts.batch_seed);
  auto const load = [&](bool first) {
    if (full && !first) return;
    if (!full) {  // partial Fisher–Yates: the first b entries of perm are a uniform sample
      for (std::size_t i = 0; i < b; ++i) std::swap(perm[i], perm[i + rng.uniform_int(n - i)]);
    }
    if (!row_weights.empty()) batch_w.resize(b);
    for (std::size_t i = 0; i < b; ++i) {
      float const* src = x.row(perm[i]);
      for (std::size_t j = 0; j < d; ++j) {
        batch(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = static_cast<double>(src[j]);
      }
      if (!row_weights.empty()) batch_w[i] = row_weights[perm[i]];
    }
  };

  CayleySgd sgd(opts.sgd);
  OptimizeRotationResult res;
  Eigen::MatrixXd r = r0;
  Eigen::MatrixXd grad;
  res.best_loss = std::numeric_limits<double>::infinity();
  for (std::size_t k = 0; k <= opts.steps; ++k) {
    load(k == 0);
    bool const last = k == opts.steps;
    double const v = loss.evaluate(batch, r, batch_w, last ? nullptr : &grad);
    DFROT_THROW_IF(!std::isfinite(v), NumericError, "optimize_rotation: ", loss.name(),
                   " is ", v, " at step ", k);
    res.loss_curve.push_back(v);
    if (v < res.best_loss) {
      res.best_loss = v;
      res.best_step = k;
      res.best_rotation = r;
    }
    if (last) break;
    OptimizeRotationStep st;
    st.step = k;
    st.loss = v;
    st.sgd = sgd.step(r, grad);
    res.alpha_curve.push_back(st.sgd.alpha);
    if (progress) progress(st);
  }
  res.rotation = std::move(r);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace dfrot::rotation
