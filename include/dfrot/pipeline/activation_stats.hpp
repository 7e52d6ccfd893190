// SPDX-License-Identifier: Apache-2.0
// Outlier statistics of a [tokens × d] activation matrix: massive activations (Sun et al. 2024),
// DFRot's per-token 4-bit error rule (ALGORITHMS.md §4.3), kurtosis, max/median; and rotate_rows.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/model/forward_hooks.hpp"
#include "dfrot/rotation/massive_tokens.hpp"

namespace dfrot::pipeline {

/// Settings of activation_stats.
struct ActivationStatsOptions {
  /// Massive Activations rule (Sun et al. 2024): |x| > min_abs and |x| > median_ratio · median|x|,
  /// the median over the whole tensor. Note: a fused RMSNorm output has |x| ≤ √d, so with the
  /// paper's 100 the rule can only fire for d > 10⁴ (it was made for residual hidden states).
  double massive_min_abs = 100.0;
  double massive_median_ratio = 1000.0;
  /// DFRot rule: token t is massive when e_t < tau · sqrt(d / tau_width), e_t the per-token 4-bit
  /// error. DFRot's 8.5 is for d = 4096; e_t grows like ‖x_t‖ = √d for RMS-normalized rows.
  double tau = 8.5;
  double tau_width = 4096.0;
  int bits = 4;                  ///< bits of the per-token quantizer Qz (symmetric, clip 1)
  std::size_t top_channels = 8;  ///< how many channels to list by max |x|
  int n_threads = 1;             ///< for the quantizer
};

/// One channel with its largest magnitude and how many of its values are massive.
struct ChannelSummary {
  std::size_t channel = 0;
  double max_abs = 0.0;
  std::size_t n_massive = 0;
};

/// Statistics of one [tokens × d] tensor, all accumulated in float64.
struct ActivationStats {
  std::size_t n_tokens = 0;
  std::size_t width = 0;

  double max_abs = 0.0;
  double median_abs = 0.0;       ///< median of all |x| (mean of the two middle ones when even)
  double max_over_median = 0.0;  ///< max_abs / median_abs (+inf when the median is 0)
  double kurtosis = 0.0;         ///< Pearson kurtosis m4/m2² of all values pooled (Gaussian: 3)
  double mean_token_kurtosis = 0.0;  ///< mean over tokens of each row's m4/m2² (rows with m2 > 0)

  // Massive activations by magnitude.
  double massive_threshold = 0.0;             ///< max(min_abs, median_ratio · median_abs)
  std::size_t n_massive_values = 0;           ///< values with |x| above the threshold
  std::vector<std::size_t> massive_tokens;    ///< rows holding one, ascending
  std::vector<std::size_t> massive_channels;  ///< columns holding one, ascending
  std::vector<ChannelSummary> top_channels;   ///< by max |x|, descending

  // DFRot's per-token error rule.
  std::vector<double> token_error;            ///< e_t = ‖x_t − Qz(x_t)‖₂ for every row
  double error_threshold = 0.0;               ///< tau · sqrt(d / tau_width)
  std::vector<std::size_t> low_error_tokens;  ///< rows with e_t < error_threshold, ascending
  double mean_token_error = 0.0;              ///< mean of e_t
};

/// Pearson kurtosis m4/m2² (central moments, population normalization) of all values of `x`,
/// two passes in float64. Returns 0 when every value is equal.
inline double pooled_kurtosis(MatrixView<float const> x) {
  double const n = double(x.rows()) * double(x.cols());
  if (n == 0) return 0.0;
  double sum = 0.0;
  for (std::size_t r = 0; r < x.rows(); ++r)
    for (std::size_t c = 0; c < x.cols(); ++c) sum += double(x(r, c));
  double const mean = sum / n;
  double m2 = 0.0, m4 = 0.0;
  for (std::size_t r = 0; r < x.rows(); ++r) {
    for (std::size_t c = 0; c < x.cols(); ++c) {
      double const d2 = (double(x(r, c)) - mean) * (double(x(r, c)) - mean);
      m2 += d2;
      m4 += d2 * d2;
    }
  }
  m2 /= n;
  m4 /= n;
  return m2 > 0 ? m4 / (m2 * m2) : 0.0;
}

/// All statistics of `x` [tokens × d] (see ActivationStats).
/// \throws ShapeError for an empty matrix, NumericError on NaN/Inf, UsageError for bad options.
inline ActivationStats activation_stats(MatrixView<float const> x,
                                        ActivationStatsOptions const& o = {}) {
  DFROT_THROW_IF(x.rows() == 0 || x.cols() == 0, ShapeError, "activation stats: empty matrix ",
                 x.rows(), "x", x.cols());
  DFROT_THROW_IF(!(o.tau_width > 0) || !(o.tau >= 0) || !(o.massive_median_ratio >= 0), UsageError,
                 "activation stats: tau, tau width and median ratio must be >= 0");
  std::size_t const n = x.rows(), d = x.cols();
  ActivationStats s;
  s.n_tokens = n;
  s.width = d;

  // Quantization error first: the quantizer also rejects NaN/Inf for the loops below.
  s.token_error = rotation::token_quant_errors(x, o.bits, o.n_threads);
  s.error_threshold = o.tau * std::sqrt(double(d) / o.tau_width);
  double err_sum = 0.0;
  for (std::size_t t = 0; t < n; ++t) {
    err_sum += s.token_error[t];
    if (s.token_error[t] < s.error_threshold) s.low_error_tokens.push_back(t);
  }
  s.mean_token_error = err_sum / double(n);

  std::vector<float> mags;
  mags.reserve(n * d);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t c = 0; c < d; ++c) mags.push_back(std::abs(x(r, c)));
  auto const mid = mags.begin() + static_cast<std::ptrdiff_t>(mags.size() / 2);
  std::nth_element(mags.begin(), mid, mags.end());
  double median = static_cast<double>(*mid);
  if (mags.size() % 2 == 0) median = 0.5 * (median + double(*std::max_element(mags.begin(), mid)));
  s.median_abs = median;

  s.massive_threshold = std::max(o.massive_min_abs, o.massive_median_ratio * median);
  std::vector<double> channel_max(d, 0.0);
  std::vector<std::size_t> channel_massive(d, 0);
  double token_kurt_sum = 0.0;
  std::size_t token_kurt_n = 0;
  for (std::size_t r = 0; r < n; ++r) {
    bool row_massive = false;
    double mean = 0.0;
    for (std::size_t c = 0; c < d; ++c) {
      double const v = static_cast<double>(x(r, c)), a = std::abs(v);
      mean += v;
      channel_max[c] = std::max(channel_max[c], a);
      if (a > s.massive_threshold) {
        ++channel_massive[c];
        ++s.n_massive_values;
        row_massive = true;
      }
    }
    if (row_massive) s.massive_tokens.push_back(r);
    mean /= double(d);
    double m2 = 0.0, m4 = 0.0;
    for (std::size_t c = 0; c < d; ++c) {
      double const d2 = (double(x(r, c)) - mean) * (double(x(r, c)) - mean);
      m2 += d2;
      m4 += d2 * d2;
    }
    m2 /= double(d);
    m4 /= double(d);
    if (m2 > 0) {
      token_kurt_sum += m4 / (m2 * m2);
      ++token_kurt_n;
    }
  }
  s.mean_token_kurtosis = token_kurt_n ? token_kurt_sum / double(token_kurt_n) : 0.0;
  s.kurtosis = pooled_kurtosis(x);
  for (std::size_t c = 0; c < d; ++c) {
    s.max_abs = std::max(s.max_abs, channel_max[c]);
    if (channel_massive[c] != 0) s.massive_channels.push_back(c);
  }
  s.max_over_median = median > 0 ? s.max_abs / median : std::numeric_limits<double>::infinity();

  std::vector<std::size_t> order(d);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::size_t const k = std::min(o.top_channels, d);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](std::size_t a, std::size_t b) {
                      return channel_max[a] != channel_max[b] ? channel_max[a] > channel_max[b]
                                                              : a < b;
                    });
  for (std::size_t i = 0; i < k; ++i)
    s.top_channels.push_back({order[i], channel_max[order[i]], channel_massive[order[i]]});
  return s;
}

/// X·Q in float64, rounded to float: the rows a residual rotation Q produces. With norms fused,
/// RMSNorm(x·Q) = RMSNorm(x)·Q for orthogonal Q, so captured unrotated RMSNorm outputs can be
/// rotated here instead of rerunning a rotated model.
/// \param x [tokens × d]  \param q [d × d]  \returns [tokens × d]
/// \throws ShapeError when q is not d × d.
inline model::RowMatrixF rotate_rows(MatrixView<float const> x, Eigen::MatrixXd const& q) {
  DFROT_THROW_IF(q.rows() != static_cast<Eigen::Index>(x.cols()) || q.cols() != q.rows(),
                 ShapeError, "rotate_rows: rows are ", x.cols(), " wide but the rotation is ",
                 q.rows(), "x", q.cols());
  using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  RowMatrixD xd(static_cast<Eigen::Index>(x.rows()), static_cast<Eigen::Index>(x.cols()));
  for (std::size_t r = 0; r < x.rows(); ++r)
    for (std::size_t c = 0; c < x.cols(); ++c)
      xd(Eigen::Index(r), Eigen::Index(c)) = double(x(r, c));
  RowMatrixD const y = xd * q;
  return y.cast<float>();
}

/// A MatrixView of an Eigen row-major float matrix (for activation_stats on rotate_rows output).
inline MatrixView<float const> view_of(model::RowMatrixF const& m) {
  return {m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())};
}

}  // namespace dfrot::pipeline
