// SPDX-License-Identifier: Apache-2.0
// Keeping massive-activation tokens unquantized — DFRot's "QuaRot.FP16()" ablation, showing that a
// few tokens explain the RO-vs-RH gap. Rule (works on the rotated model, which preserves row
// norms): a token is massive in decoder layer l when the L2 norm of its residual stream entering
// the layer is at least `ratio` times the median norm measured there on a calibration window.
// Its four linear inputs of that layer then skip activation quantization (W4A16 for that row on
// the int4 engine, FP on the fake path); its K and V are still quantized (the packed KV4 cache
// has no FP rows).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/model/forward_hooks.hpp"

namespace dfrot::pipeline {

/// The rows of the current forward call that keep their activations, for the layer being run
/// (written by MassiveTokenKeeper, read by the quantizers), and counts since the last reset.
struct KeptTokens {
  std::vector<std::uint8_t> kept;      ///< per row of the current call
  bool any = false;                    ///< some row of the current call is kept
  std::vector<std::size_t> kept_rows;  ///< [layer] rows kept so far
  std::vector<std::size_t> seen_rows;  ///< [layer] rows seen so far
  bool row(std::size_t r) const { return any && kept[r] != 0; }
  void reset_counts() {
    std::fill(kept_rows.begin(), kept_rows.end(), 0);
    std::fill(seen_rows.begin(), seen_rows.end(), 0);
  }
  std::size_t total_kept() const {
    std::size_t n = 0;
    for (std::size_t k : kept_rows) n += k;
    return n;
  }
};

/// Calls f(begin, count) for each maximal run of rows in [0, rows) that are quantized (not kept);
/// without a keeper (null) or with nothing kept, once for all rows.
template <class F>
void for_each_quantized_run(KeptTokens const* k, std::size_t rows, F&& f) {
  if (k == nullptr || !k->any) {
    if (rows) f(std::size_t{0}, rows);
    return;
  }
  for (std::size_t r = 0; r < rows;) {
    if (k->row(r)) {
      ++r;
      continue;
    }
    std::size_t e = r;
    while (e < rows && !k->row(e)) ++e;
    f(r, e - r);
    r = e;
  }
}

/// Forwards every hook to `inner` (may be null); decorators override what they add.
class ForwardingHooks : public model::ForwardHooks {
 public:
  explicit ForwardingHooks(model::ForwardHooks* inner) : inner_(inner) {}
  void residual(std::size_t l, MatrixView<float const> x) override {
    if (inner_) inner_->residual(l, x);
  }
  void linear_input(std::size_t l, model::LinearInput s, MatrixView<float> x) override {
    if (inner_) inner_->linear_input(l, s, x);
  }
  void query(std::size_t l, MatrixView<float> q) override {
    if (inner_) inner_->query(l, q);
  }
  void key(std::size_t l, MatrixView<float> k) override {
    if (inner_) inner_->key(l, k);
  }
  void value(std::size_t l, MatrixView<float> v) override {
    if (inner_) inner_->value(l, v);
  }
  bool stop_requested() const override { return inner_ && inner_->stop_requested(); }

 protected:
  model::ForwardHooks* inner_;
};

inline double row_norm(float const* x, std::size_t n) {
  double ss = 0;
  for (std::size_t i = 0; i < n; ++i) ss += double(x[i]) * double(x[i]);
  return std::sqrt(ss);
}

/// Records the residual-stream row norms entering every decoder layer (around `inner`).
class ResidualNormObserver final : public ForwardingHooks {
 public:
  ResidualNormObserver(std::size_t n_layers, model::ForwardHooks* inner)
      : ForwardingHooks(inner), norms_(n_layers) {}
  void residual(std::size_t l, MatrixView<float const> x) override {
    for (std::size_t t = 0; t < x.rows(); ++t) norms_.at(l).push_back(row_norm(x.row(t), x.cols()));
    ForwardingHooks::residual(l, x);
  }
  /// The median norm of each layer (upper median). \throws ShapeError when a layer saw no row.
  std::vector<double> medians() const {
    std::vector<double> out;
    for (std::size_t l = 0; l < norms_.size(); ++l) {
      std::vector<double> v = norms_[l];
      DFROT_THROW_IF(v.empty(), ShapeError, "residual norms: layer ", l, " saw no token");
      auto const mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
      std::nth_element(v.begin(), mid, v.end());
      out.push_back(*mid);
    }
    return out;
  }

 private:
  std::vector<std::vector<double>> norms_;
};

/// Marks each layer's massive rows in `kept` (rule above) before passing the hooks on to `inner`,
/// which it owns; the quantizers given the same KeptTokens skip those rows.
class MassiveTokenKeeper final : public ForwardingHooks {
 public:
  /// \throws ShapeError unless there is one positive finite reference norm per layer;
  /// UsageError for a ratio ≤ 1 (the median token itself would be kept).
  MassiveTokenKeeper(std::unique_ptr<model::ForwardHooks> inner, std::vector<double> reference,
                     double ratio, std::shared_ptr<KeptTokens> kept)
      : ForwardingHooks(inner.get()), owned_(std::move(inner)), reference_(std::move(reference)),
        ratio_(ratio), kept_(std::move(kept)) {
    DFROT_THROW_IF(!(ratio_ > 1) || !std::isfinite(ratio_), UsageError,
                   "keep massive tokens: ratio ", ratio_, " must be > 1");
    for (std::size_t l = 0; l < reference_.size(); ++l) {
      DFROT_THROW_IF(!(reference_[l] > 0) || !std::isfinite(reference_[l]), ShapeError,
                     "keep massive tokens: reference norm ", reference_[l], " of layer ", l);
    }
    kept_->kept_rows.assign(reference_.size(), 0);
    kept_->seen_rows.assign(reference_.size(), 0);
  }

  void residual(std::size_t l, MatrixView<float const> x) override {
    DFROT_THROW_IF(l >= reference_.size(), ShapeError, "keep massive tokens: layer ", l, " of ",
                   reference_.size());
    double const threshold = ratio_ * reference_[l];
    kept_->kept.assign(x.rows(), 0);
    kept_->any = false;
    for (std::size_t t = 0; t < x.rows(); ++t) {
      if (row_norm(x.row(t), x.cols()) >= threshold) {
        kept_->kept[t] = 1;
        kept_->any = true;
        ++kept_->kept_rows[l];
      }
    }
    kept_->seen_rows[l] += x.rows();
    ForwardingHooks::residual(l, x);
  }
  void linear_input(std::size_t l, model::LinearInput s, MatrixView<float> x) override {
    // The lm_head input (after the last layer) is not an activation-quantization site here.
    if (s == model::LinearInput::kLmHead) kept_->any = false;
    ForwardingHooks::linear_input(l, s, x);
  }

  std::vector<double> const& reference() const { return reference_; }
  double ratio() const { return ratio_; }

 private:
  std::unique_ptr<model::ForwardHooks> owned_;
  std::vector<double> reference_;
  double ratio_;
  std::shared_ptr<KeptTokens> kept_;
};

}  // namespace dfrot::pipeline
