// SPDX-License-Identifier: Apache-2.0
// Massive-activation tokens (DFRot, ALGORITHMS.md §4.3): per-token 4-bit quantization error of
// RMS-normalized rows and the two selection rules (absolute threshold, worse-after-rotation).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/quant/activation_quant.hpp"
#include "dfrot/quant/quant_config.hpp"

namespace dfrot::rotation {

/// The per-token quantizer Qz of DFRot: `bits` (4), symmetric, per token, clip 1.0, round half to
/// even — independent of the activation quantizer finally used (ALGORITHMS.md §4.3).
inline quant::QuantConfig massive_token_quantizer(int bits = 4) {
  quant::QuantConfig cfg;
  cfg.bits = bits;
  cfg.symmetry = quant::Symmetry::kSym;
  cfg.granularity = quant::Granularity::kPerRow;
  cfg.clip_ratio = 1.0f;
  return cfg;
}

namespace detail {

/// Rows per block of the error kernels: a few hundred KiB of float scratch per thread.
inline constexpr std::size_t kErrorBlockRows = 256;

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// e_t = ‖y_t − Qz(y_t)‖₂ for y = x (q == nullptr) or y = x·q (q given as float), in blocks.
inline std::vector<double> token_errors(MatrixView<float const> x, RowMatrixF const* q, int bits,
                                        int n_threads, char const* where) {
  DFROT_THROW_IF(x.cols() == 0, ShapeError, where, ": rows have no columns");
  DFROT_THROW_IF(q != nullptr && (static_cast<std::size_t>(q->rows()) != x.cols() ||
                                  static_cast<std::size_t>(q->cols()) != x.cols()),
                 ShapeError, where, ": rotation is ", q->rows(), "x", q->cols(), " but rows are ",
                 x.cols(), " wide");
  quant::QuantConfig const cfg = massive_token_quantizer(bits);
  std::size_t const n = x.rows(), d = x.cols();
  std::vector<double> err(n, 0.0);
  std::size_t const n_blocks = (n + kErrorBlockRows - 1) / kErrorBlockRows;
  parallel_for(n_blocks, n_threads, 1, [&](std::size_t b0, std::size_t b1) {
    RowMatrixF y, yq;
    for (std::size_t b = b0; b < b1; ++b) {
      std::size_t const r0 = b * kErrorBlockRows, r1 = std::min(n, r0 + kErrorBlockRows);
      auto const m = static_cast<Eigen::Index>(r1 - r0);
      auto const dd = static_cast<Eigen::Index>(d);
      Eigen::Map<RowMatrixF const, 0, Eigen::OuterStride<>> const xb(
          x.row(r0), m, dd, Eigen::OuterStride<>(static_cast<Eigen::Index>(x.row_stride())));
      if (q != nullptr) {
        y.resize(m, dd);
        y.noalias() = xb * (*q);
      } else {
        y = xb;
      }
      yq.resize(m, dd);
      quant::fake_quantize_activations(MatrixView<float const>(y.data(), r1 - r0, d),
                                       MatrixView<float>(yq.data(), r1 - r0, d), cfg, 1);
      for (Eigen::Index i = 0; i < m; ++i) {
        double s = 0;
        for (Eigen::Index j = 0; j < dd; ++j) {
          double const e = static_cast<double>(y(i, j)) - static_cast<double>(yq(i, j));
          s += e * e;
        }
        err[r0 + static_cast<std::size_t>(i)] = std::sqrt(s);
      }
    }
  });
  return err;
}

}  // namespace detail

/// e_t = ‖x_t − Qz(x_t)‖₂ for every row (ALGORITHMS.md §4.3), quantized in float32 by the
/// dispatched per-token kernel, accumulated in float64.
/// \throws ShapeError for rows without columns, NumericError for NaN/Inf input.
inline std::vector<double> token_quant_errors(MatrixView<float const> rows, int bits = 4,
                                              int n_threads = 1) {
  return detail::token_errors(rows, nullptr, bits, n_threads, "token_quant_errors");
}

/// e_t^Q = ‖x_t·Q − Qz(x_t·Q)‖₂ after rotating every row by the orthogonal d×d `q` (float32
/// GEMM per block of rows, float64 error accumulation).
/// \throws ShapeError when `q` is not d×d.
inline std::vector<double> rotated_token_quant_errors(MatrixView<float const> rows,
                                                      Eigen::MatrixXd const& q, int bits = 4,
                                                      int n_threads = 1) {
  detail::RowMatrixF const qf = q.cast<float>();
  return detail::token_errors(rows, &qf, bits, n_threads, "rotated_token_quant_errors");
}

/// The absolute threshold of the e_t < τ rule for hidden size d: τ(d) = τ₄₀₉₆·√(d/4096).
/// Derivation: our calibration rows are RMSNorm outputs with the norm weight folded into the next
/// linear (ALGORITHMS.md §1.1, §4.2), so every row has exactly ‖x_t‖ = √d. For an ordinary
/// (non-massive) token the *relative* error ‖x − Qz(x)‖/‖x‖ of a per-token absmax quantizer
/// depends on the shape of the value distribution, not on d, so the absolute error — and the
/// threshold separating massive tokens (a few dominant channels, near-exact quantization) from
/// ordinary ones (e_t ≈ 10–12 at d = 4096) — scales with ‖x‖ = √d. DFRot's τ = 8.5 is for d =
/// 4096 (LLaMA-2/3-7/8B); for SmolLM2-135M (d = 576) this gives 8.5·√(576/4096) = 3.19.
/// Caveat: the relative error is only approximately width independent. It grows with the absmax
/// of the row (∝ √(2 ln d) for Gaussian-like values: relative error ≈ 0.13 at d = 576 vs 0.16 at
/// 4096), so at small d the scaled τ sits closer to the ordinary tokens; check the histogram of
/// e_t (token_quant_errors) for the gap between the two populations before trusting τ(d).
inline double massive_threshold_for_width(std::size_t d, double tau_4096 = 8.5) {
  DFROT_THROW_IF(d == 0, ShapeError, "massive_threshold_for_width: width 0");
  return tau_4096 * std::sqrt(static_cast<double>(d) / 4096.0);
}

/// Which rows are massive-activation tokens, with the per-token errors the rule used.
struct MassiveTokens {
  std::vector<std::uint8_t> mask;     ///< [n_rows], 1 = massive
  std::vector<std::size_t> indices;   ///< the massive rows, ascending
  std::vector<double> error;          ///< e_t on the unrotated rows
  std::vector<double> rotated_error;  ///< e_t^Q (rotation rule only; empty otherwise)
  double threshold = 0;               ///< τ (threshold rule only)
  std::string rule;                   ///< e.g. "e_t < 3.1875" or "e_t <= e_t^RO"

  std::size_t n_rows() const noexcept { return mask.size(); }
  std::size_t n_massive() const noexcept { return indices.size(); }
  /// Fraction of rows selected (0 for no rows).
  double fraction() const noexcept {
    return mask.empty() ? 0.0 : static_cast<double>(indices.size()) / static_cast<double>(mask.size());
  }
};

namespace detail {
inline void fill_indices(MassiveTokens& m) {
  for (std::size_t t = 0; t < m.mask.size(); ++t) {
    if (m.mask[t] != 0) m.indices.push_back(t);
  }
}
}  // namespace detail

/// Rule (a), LLaMA/Qwen: massive ⇔ e_t < τ (DFRot: τ = 8.5 at d = 4096; see
/// massive_threshold_for_width for other widths).
/// \throws UsageError for a non-finite or negative τ, and as token_quant_errors.
inline MassiveTokens select_massive_by_threshold(MatrixView<float const> rows, double tau,
                                                 int bits = 4, int n_threads = 1) {
  DFROT_THROW_IF(!(tau >= 0.0 && std::isfinite(tau)), UsageError,
                 "select_massive_by_threshold: threshold ", tau, ": expected a finite value >= 0");
  MassiveTokens m;
  m.error = token_quant_errors(rows, bits, n_threads);
  m.threshold = tau;
  m.rule = str_cat("e_t < ", tau);
  m.mask.resize(m.error.size());
  for (std::size_t t = 0; t < m.error.size(); ++t) m.mask[t] = m.error[t] < tau ? 1 : 0;
  detail::fill_indices(m);
  return m;
}

/// Rule (b), Mistral: massive ⇔ e_t ≤ e_t^Q, the tokens that the orthogonal `q` (a random
/// orthogonal matrix in DFRot) does not improve.
/// \throws ShapeError when `q` is not d×d, and as token_quant_errors.
inline MassiveTokens select_massive_by_rotation(MatrixView<float const> rows,
                                                Eigen::MatrixXd const& q, int bits = 4,
                                                int n_threads = 1) {
  MassiveTokens m;
  m.error = token_quant_errors(rows, bits, n_threads);
  m.rotated_error = rotated_token_quant_errors(rows, q, bits, n_threads);
  m.rule = "e_t <= e_t^RO";
  m.mask.resize(m.error.size());
  for (std::size_t t = 0; t < m.error.size(); ++t) {
    m.mask[t] = m.error[t] <= m.rotated_error[t] ? 1 : 0;
  }
  detail::fill_indices(m);
  return m;
}

}  // namespace dfrot::rotation
