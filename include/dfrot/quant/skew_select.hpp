// SPDX-License-Identifier: Apache-2.0
// Skew-based per-layer choice between symmetric and asymmetric activation quantization (§6.2).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/core/format.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/quant/quant_config.hpp"

namespace dfrot::quant {

/// Streaming mean / variance / third central moment in float64 (pairwise merge of per-row batches
/// with the Chan–Pébay update, so one pass over arbitrarily many values stays accurate).
class MomentAccumulator {
 public:
  /// Adds values. \throws NumericError on NaN/Inf.
  void add(std::span<float const> x) {
    if (x.empty()) return;
    double mean = 0.0;
    for (float v : x) mean += static_cast<double>(v);
    double const n = static_cast<double>(x.size());
    mean /= n;
    double m2 = 0.0, m3 = 0.0;
    for (float v : x) {
      double const d = static_cast<double>(v) - mean;
      m2 += d * d;
      m3 += d * d * d;
    }
    DFROT_THROW_IF(!std::isfinite(m2) || !std::isfinite(m3) || !std::isfinite(mean), NumericError,
                   "skew statistics: input contains NaN or Inf");
    merge(x.size(), mean, m2, m3);
  }
  /// Adds every element of a matrix.
  void add(MatrixView<float const> x) {
    for (std::size_t r = 0; r < x.rows(); ++r) add(std::span<float const>(x.row(r), x.cols()));
  }
  /// Adds another accumulator's values.
  void merge(MomentAccumulator const& o) {
    if (o.n_ != 0) merge(o.n_, o.mean_, o.m2_, o.m3_);
  }

  std::uint64_t count() const { return n_; }
  double mean() const { return mean_; }
  /// Unbiased standard deviation (n − 1 denominator), 0 for fewer than 2 values.
  double stddev() const { return n_ > 1 ? std::sqrt(m2_ / static_cast<double>(n_ - 1)) : 0.0; }
  /// Fisher skewness as in the report: E[(x − μ)³] / (σ³ + eps), σ unbiased.
  double skewness(double eps = 1e-6) const {
    if (n_ == 0) return 0.0;
    double const s = stddev();
    return (m3_ / static_cast<double>(n_)) / (s * s * s + eps);
  }

 private:
  void merge(std::uint64_t nb_count, double mean_b, double m2_b, double m3_b) {
    if (n_ == 0) {
      n_ = nb_count;
      mean_ = mean_b;
      m2_ = m2_b;
      m3_ = m3_b;
      return;
    }
    double const na = static_cast<double>(n_), nb = static_cast<double>(nb_count);
    double const n = na + nb;
    double const delta = mean_b - mean_;
    m3_ = m3_ + m3_b + delta * delta * delta * na * nb * (na - nb) / (n * n) +
          3.0 * delta * (na * m2_b - nb * m2_) / n;
    m2_ = m2_ + m2_b + delta * delta * na * nb / n;
    mean_ = mean_ + delta * nb / n;
    n_ += nb_count;
  }

  std::uint64_t n_ = 0;
  double mean_ = 0.0, m2_ = 0.0, m3_ = 0.0;
};

/// Thresholds of the rule "asymmetric if |μ|/(σ + eps) > tau_mean or |γ₁| > tau_skew" (report
/// defaults 0.1 / 0.2; older commented defaults 0.5 / 1.0).
struct SkewThresholds {
  double tau_mean = 0.1;
  double tau_skew = 0.2;
  double eps = 1e-6;
};

/// One layer's statistics and decision.
struct SkewDecision {
  std::string layer;
  std::uint64_t n_values = 0;
  double mean = 0.0;
  double stddev = 0.0;
  double mean_ratio = 0.0;  ///< |μ| / (σ + eps)
  double skewness = 0.0;    ///< γ₁
  bool by_mean = false;     ///< mean_ratio > tau_mean
  bool by_skew = false;     ///< |γ₁| > tau_skew
  Symmetry symmetry = Symmetry::kSym;
};

/// Applies the rule to accumulated statistics. \throws UsageError with fewer than 2 values.
inline SkewDecision decide_symmetry(std::string_view layer, MomentAccumulator const& m,
                                    SkewThresholds const& t = {}) {
  DFROT_THROW_IF(m.count() < 2, UsageError, "skew select '", layer,
                 "': needs at least 2 values, got ", m.count());
  SkewDecision d;
  d.layer = std::string(layer);
  d.n_values = m.count();
  d.mean = m.mean();
  d.stddev = m.stddev();
  d.mean_ratio = std::abs(d.mean) / (d.stddev + t.eps);
  d.skewness = m.skewness(t.eps);
  d.by_mean = d.mean_ratio > t.tau_mean;
  d.by_skew = std::abs(d.skewness) > t.tau_skew;
  d.symmetry = d.by_mean || d.by_skew ? Symmetry::kAsym : Symmetry::kSym;
  return d;
}

/// Per-layer decisions, in the order layers were first observed.
struct SkewReport {
  SkewThresholds thresholds;
  std::vector<SkewDecision> layers;

  /// The decision of `layer`. \throws UsageError when the layer was never observed (the reference
  /// silently fell back to symmetric for its misspelt "k_proj" key; we do not).
  SkewDecision const& at(std::string_view layer) const {
    for (auto const& d : layers)
      if (d.layer == layer) return d;
    throw UsageError(str_cat("skew report: no statistics for layer '", layer, "'"));
  }
  Symmetry symmetry_of(std::string_view layer) const { return at(layer).symmetry; }

  /// One line per layer: name, n, mean, std, |mean|/std, skew, decision and the reason.
  std::string to_text() const {
    std::string out = str_cat("skew select: tau_mean ", thresholds.tau_mean, ", tau_skew ",
                              thresholds.tau_skew, "\n");
    for (auto const& d : layers) {
      out +=
          str_cat(d.layer, ": n ", d.n_values, " mean ", d.mean, " std ", d.stddev, " |mean|/std ",
                  d.mean_ratio, " skew ", d.skewness, " -> ", to_string(d.symmetry),
                  d.by_mean ? " (mean)" : "", d.by_skew ? " (skew)" : "", "\n");
    }
    return out;
  }
};

/// Collects statistics of each layer's **quantizer input** — the tensor the activation quantizer
/// actually sees (after any online Hadamard), not the layer output the reference measured by
/// mistake (ALGORITHMS.md §6.2) — and turns them into a SkewReport.
class SkewSelector {
 public:
  explicit SkewSelector(SkewThresholds thresholds = {}) : thresholds_(thresholds) {}

  /// Adds calibration activations x [n_tokens × d] of `layer` (may be called repeatedly).
  /// \throws NumericError on NaN/Inf.
  void observe(std::string_view layer, MatrixView<float const> x) {
    for (std::size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == layer) {
        stats_[i].add(x);
        return;
      }
    }
    names_.emplace_back(layer);
    stats_.emplace_back();
    stats_.back().add(x);
  }

  /// Decisions for every observed layer.
  SkewReport report() const {
    SkewReport r;
    r.thresholds = thresholds_;
    for (std::size_t i = 0; i < names_.size(); ++i)
      r.layers.push_back(decide_symmetry(names_[i], stats_[i], thresholds_));
    return r;
  }

 private:
  SkewThresholds thresholds_;
  std::vector<std::string> names_;
  std::vector<MomentAccumulator> stats_;
};

}  // namespace dfrot::quant
