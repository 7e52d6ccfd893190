// SPDX-License-Identifier: Apache-2.0
// DFRot's refined R1 (ALGORITHMS.md §4.4–4.5): weighted alternating Procrustes on calibration
// rows, with best-iterate tracking, early stopping and an error curve.
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/rotation/procrustes_backend.hpp"
#include "dfrot/rotation/rotation.hpp"

namespace dfrot::rotation {

/// Settings of refine_rotation_procrustes. Defaults are DFRot's (α = 100, 100 iterations, 4 bit)
/// plus early stopping, which DFRot does not have (set patience = 0 to always run `iterations`).
struct ProcrustesConfig {
  /// Massive rows are scaled by α (DFRot), i.e. weighted by α² in the squared error.
  double alpha = 100.0;
  int iterations = 100;  ///< Procrustes updates (each followed by one evaluation)
  int bits = 4;          ///< bits of the per-token symmetric quantizer Qz
  /// An iterate counts as an improvement when its weighted error is below best·(1 − tolerance).
  double tolerance = 1e-4;
  /// Stop after this many evaluations without an improvement (0: never stop early).
  int patience = 10;
  int n_threads = 0;  ///< ≤ 0: all cores (CPU backend only)
};

/// Why the loop ended.
enum class ProcrustesStop { kMaxIterations, kNoImprovement };

inline std::string_view to_string(ProcrustesStop s) {
  return s == ProcrustesStop::kMaxIterations ? "max-iterations" : "no-improvement";
}

/// One evaluated iterate, passed to the progress callback. Errors are Frobenius norms:
/// weighted = √(Σ_t w_t e_t²) (DFRot's ‖Ã R − Qz(Ã R)‖_F), plain = √(Σ_t e_t²) (its logged
/// ‖A0 R1 − Qz(A0 R1)‖_F).
struct ProcrustesIterate {
  int iteration = 0;  ///< number of updates applied (0 = the start rotation R0)
  double weighted_error = 0;
  double error = 0;
  bool is_best = false;  ///< lowest weighted error so far
  double seconds = 0;    ///< wall time of this iteration (evaluate + SVD + QR)
};

using ProcrustesProgress = std::function<void(ProcrustesIterate const&)>;

/// What refine_rotation_procrustes returns. Curves have one entry per evaluated iterate, index k =
/// after k updates (entry 0 is R0).
struct ProcrustesResult {
  Eigen::MatrixXd rotation;    ///< R1 = R0·R_best (float64, orthogonal): use as Q (rotation.hpp)
  Eigen::MatrixXd refinement;  ///< R_best = R0ᵀ·R1 (DFRot's saved matrix before R0 is applied)
  int best_iteration = 0;
  double best_weighted_error = 0;
  double best_error = 0;
  std::vector<double> weighted_error_curve;
  std::vector<double> error_curve;
  std::vector<double> iteration_seconds;
  int iterations_run = 0;  ///< updates applied
  ProcrustesStop stop = ProcrustesStop::kMaxIterations;
  std::size_t n_massive = 0;
  std::string backend;
  double evaluate_seconds = 0;  ///< total in backend.evaluate (GEMMs + quantization)
  double polar_seconds = 0;     ///< total in SVDs
  double orthonormalize_seconds = 0;
  double total_seconds = 0;
};

namespace detail {
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace detail

/// DFRot's weighted alternating Procrustes (ALGORITHMS.md §4.4–4.5), improved. With Ā = A0·R0 and
/// W = diag(w), w_t = α² for massive tokens and 1 otherwise, it minimizes over orthogonal R
///   L(R) = Σ_t w_t ‖ā_t R − Qz(ā_t R)‖²
/// by alternating B = Qz(Ā R) with the Procrustes step P = U Vᵀ of M = (Ā R)ᵀ W B = U Σ Vᵀ and
/// R ← orthonormalize(R P). Scaling massive rows by α (DFRot) equals the weight α² because Qz is
/// scale-equivariant (Qz(α y) = α Qz(y), exactly for α a power of two and up to float32 rounding
/// of α·y otherwise); we apply the weight in M and the error instead of scaling the data.
/// The loop tracks the composite C = R0·R (sign-fixed QR commutes with left multiplication by the
/// orthogonal R0, so orthonormalize(R0 R P) = R0·orthonormalize(R P)) and returns the iterate with
/// the lowest weighted error — DFRot returns the last one — stopping early after `patience`
/// evaluations without a relative improvement of `tolerance`.
/// \param rows  calibration rows A0 [N × d] (RMSNorm outputs, float32, any row stride)
/// \param r0    start rotation (d×d, orthogonal: randomized Hadamard or random orthogonal)
/// \param massive_mask [N], non-zero for massive tokens; empty = none
/// \param backend linear algebra (nullptr: EigenProcrustesBackend(cfg.n_threads))
/// \throws ShapeError for mismatched shapes, UsageError for a bad config or a non-orthogonal R0
///         (max |R0ᵀR0 − I| > 1e-6), NumericError when the errors become non-finite.
inline ProcrustesResult refine_rotation_procrustes(MatrixView<float const> rows,
                                                   Eigen::MatrixXd const& r0,
                                                   std::span<std::uint8_t const> massive_mask,
                                                   ProcrustesConfig const& cfg,
                                                   ProcrustesBackend* backend = nullptr,
                                                   ProcrustesProgress const& progress = {}) {
  constexpr char const* kWhere = "refine_rotation_procrustes";
  auto const t_start = std::chrono::steady_clock::now();
  std::size_t const n = rows.rows(), d = rows.cols();
  DFROT_THROW_IF(n == 0 || d == 0, ShapeError, kWhere, ": no calibration rows (", n, "x", d, ")");
  DFROT_THROW_IF(static_cast<std::size_t>(r0.rows()) != d || static_cast<std::size_t>(r0.cols()) != d,
                 ShapeError, kWhere, ": start rotation is ", r0.rows(), "x", r0.cols(),
                 " but the rows are ", d, " wide");
  DFROT_THROW_IF(!massive_mask.empty() && massive_mask.size() != n, ShapeError, kWhere,
                 ": massive mask has ", massive_mask.size(), " entries for ", n, " rows");
  DFROT_THROW_IF(!(cfg.alpha > 0.0 && std::isfinite(cfg.alpha)), UsageError, kWhere, ": alpha ",
                 cfg.alpha, ": expected a finite value > 0");
  DFROT_THROW_IF(cfg.iterations < 0, UsageError, kWhere, ": iterations ", cfg.iterations,
                 ": expected >= 0");
  DFROT_THROW_IF(cfg.patience < 0, UsageError, kWhere, ": patience ", cfg.patience,
                 ": expected >= 0");
  DFROT_THROW_IF(!(cfg.tolerance >= 0.0 && cfg.tolerance < 1.0), UsageError, kWhere,
                 ": tolerance ", cfg.tolerance, ": expected 0 <= tolerance < 1");
  DFROT_THROW_IF(!r0.allFinite(), NumericError, kWhere, ": start rotation contains NaN or Inf");
  double const r0_err = orthogonality_error(r0);
  DFROT_THROW_IF(r0_err > 1e-6, UsageError, kWhere,
                 ": start rotation is not orthogonal: max |R0^T R0 - I| = ", r0_err,
                 " (expected <= 1e-6)");

  std::unique_ptr<ProcrustesBackend> own;
  if (backend == nullptr) {
    own = std::make_unique<EigenProcrustesBackend>(cfg.n_threads);
    backend = own.get();
  }
  ProcrustesResult res;
  res.backend = backend->name();
  std::vector<double> weights(n, 1.0);
  double const w_massive = cfg.alpha * cfg.alpha;
  for (std::size_t t = 0; t < massive_mask.size(); ++t) {
    if (massive_mask[t] != 0) {
      weights[t] = w_massive;
      ++res.n_massive;
    }
  }
  backend->bind(rows, weights, cfg.bits);

  Eigen::MatrixXd c = r0;  // composite R0·R_k
  Eigen::MatrixXd best = r0;
  double best_w = std::numeric_limits<double>::infinity();
  int since_improvement = 0;
  ProcrustesEvaluation ev;
  for (int k = 0;; ++k) {
    auto const t_iter = std::chrono::steady_clock::now();
    bool const update = k < cfg.iterations;
    backend->evaluate(c, update, ev);
    res.evaluate_seconds += detail::seconds_since(t_iter);
    double sw = 0, s = 0;
    for (std::size_t t = 0; t < n; ++t) {
      sw += weights[t] * ev.row_sq_error[t];
      s += ev.row_sq_error[t];
    }
    DFROT_THROW_IF(!std::isfinite(sw), NumericError, kWhere, ": weighted error at iteration ", k,
                   " is ", sw);
    ProcrustesIterate it;
    it.iteration = k;
    it.weighted_error = std::sqrt(sw);
    it.error = std::sqrt(s);
    if (k == 0 || it.weighted_error < best_w * (1.0 - cfg.tolerance)) {
      since_improvement = 0;
    } else {
      ++since_improvement;
    }
    if (it.weighted_error < best_w) {
      best_w = it.weighted_error;
      best = c;
      res.best_iteration = k;
      res.best_weighted_error = it.weighted_error;
      res.best_error = it.error;
      it.is_best = true;
    }
    res.weighted_error_curve.push_back(it.weighted_error);
    res.error_curve.push_back(it.error);
    bool const stop_early = cfg.patience > 0 && since_improvement >= cfg.patience;
    if (update && !stop_early) {
      auto t0 = std::chrono::steady_clock::now();
      Eigen::MatrixXd const p = backend->polar(ev.cross);
      res.polar_seconds += detail::seconds_since(t0);
      t0 = std::chrono::steady_clock::now();
      Eigen::MatrixXd const cp = c * p;
      c = backend->orthonormalize(cp);
      res.orthonormalize_seconds += detail::seconds_since(t0);
      res.iterations_run = k + 1;
    }
    it.seconds = detail::seconds_since(t_iter);
    res.iteration_seconds.push_back(it.seconds);
    if (progress) progress(it);
    if (stop_early) {
      res.stop = ProcrustesStop::kNoImprovement;
      break;
    }
    if (!update) {
      res.stop = ProcrustesStop::kMaxIterations;
      break;
    }
  }
  res.rotation = std::move(best);
  res.refinement = r0.transpose() * res.rotation;
  res.total_seconds = detail::seconds_since(t_start);
  return res;
}

/// Convenience: the refined R1 as a Rotation (kind "procrustes").
inline Rotation procrustes_rotation(ProcrustesResult const& r, std::string const& start_kind,
                                    std::uint64_t seed) {
  return {r.rotation, "procrustes", seed,
          str_cat("DFRot weighted Procrustes from ", start_kind, " (seed ", seed, "): best iterate ",
                  r.best_iteration, " of ", r.iterations_run, ", weighted error ",
                  r.best_weighted_error, ", stop ", to_string(r.stop))};
}

}  // namespace dfrot::rotation
