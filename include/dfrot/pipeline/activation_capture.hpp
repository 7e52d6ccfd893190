// SPDX-License-Identifier: Apache-2.0
// ActivationCapture: records every decoder layer's two RMSNorm outputs (the rows R1 acts on)
// across calibration windows; the DFRot calibration set A0 is their stack (ALGORITHMS.md §4.2).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstddef>
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/model/forward_hooks.hpp"
#include "dfrot/model/llama_model.hpp"

namespace dfrot::pipeline {

/// What to keep of each forward call (window).
struct CaptureOptions {
  /// Keep positions 0, k, 2k, … of every window (k ≥ 1; 1 = every token).
  std::size_t token_stride = 1;
  /// At most this many of those positions per window, the first ones (0 = no limit).
  std::size_t max_tokens_per_window = 0;
  /// Layers to record (empty = all). Order does not matter; duplicates are ignored.
  std::vector<std::size_t> layers = {};
};

/// Which token of which window a captured row is.
struct CapturedToken {
  std::size_t window = 0;    ///< index of the forward call, from 0
  std::size_t position = 0;  ///< token position inside that window
};

/// ForwardHooks that copies the RMSNorm outputs of LinearInput::kAttention (read by q/k/v_proj)
/// and LinearInput::kMlp (read by gate/up_proj) of the selected layers; it never changes them.
/// Every forward call is one window: a call starts when layer 0's kAttention input arrives. Run
/// the model prefill-style (one call per window); token-by-token decode would make every token a
/// window of its own. All (layer, site) share the same token selection, so row r of every
/// matrix is token tokens()[r].
///
/// With norms fused (fuse_rms_norms) the rows are x/rms(x) with RMS 1 (norm √d), the rows a
/// residual rotation Q acts on: RMSNorm(x·Q) = RMSNorm(x)·Q, so rotated statistics need no rerun.
class ActivationCapture final : public model::ForwardHooks {
 public:
  /// \param n_layers decoder layers of the model  \param width hidden size d
  /// \throws UsageError for token_stride 0 or a layer ≥ n_layers.
  ActivationCapture(std::size_t n_layers, std::size_t width, CaptureOptions options = {})
      : n_layers_(n_layers),
        width_(width),
        options_(std::move(options)),
        enabled_(n_layers, options_.layers.empty()),
        data_(2 * n_layers) {
    DFROT_THROW_IF(options_.token_stride == 0, UsageError,
                   "activation capture: token stride must be >= 1");
    DFROT_THROW_IF(width == 0, ShapeError, "activation capture: width 0");
    for (std::size_t l : options_.layers) {
      DFROT_THROW_IF(l >= n_layers, UsageError, "activation capture: layer ", l,
                     " out of range (the model has ", n_layers, ")");
      enabled_[l] = true;
    }
  }

  /// Sized for `config` (n_layers, hidden).
  explicit ActivationCapture(model::ModelConfig const& config, CaptureOptions options = {})
      : ActivationCapture(config.n_layers, config.hidden, std::move(options)) {}

  void linear_input(std::size_t layer, model::LinearInput site, MatrixView<float> x) override {
    if (layer == 0 && site == model::LinearInput::kAttention) start_window(x.rows());
    if (layer >= n_layers_ || !enabled_[layer] || !is_norm_site(site)) return;
    DFROT_THROW_IF(x.cols() != width_, ShapeError, "activation capture: layer ", layer,
                   " rows have ", x.cols(), " columns, expected ", width_);
    DFROT_THROW_IF(n_windows_ == 0 || x.rows() != window_rows_, ShapeError,
                   "activation capture: layer ", layer, " got ", x.rows(),
                   " tokens but the window has ", window_rows_);
    std::vector<float>& out = data_[slot(layer, site)];
    for (std::size_t p : window_positions_) out.insert(out.end(), x.row(p), x.row(p) + width_);
  }

  std::size_t n_layers() const { return n_layers_; }
  std::size_t width() const { return width_; }
  std::size_t n_windows() const { return n_windows_; }
  /// Rows per (layer, site) so far, over all windows.
  std::size_t n_rows() const { return tokens_.size(); }
  /// Window and position of every captured row.
  std::span<CapturedToken const> tokens() const { return tokens_; }
  /// Whether `layer` is recorded.
  bool captures(std::size_t layer) const { return layer < n_layers_ && enabled_[layer]; }
  /// The recorded layers, ascending.
  std::vector<std::size_t> layers() const {
    std::vector<std::size_t> out;
    for (std::size_t l = 0; l < n_layers_; ++l)
      if (enabled_[l]) out.push_back(l);
    return out;
  }

  /// The rows of one (layer, site), [n_rows × d], valid until the next capture.
  /// \throws UsageError when the layer is not recorded or the site is not an RMSNorm output.
  MatrixView<float const> rows(std::size_t layer, model::LinearInput site) const {
    check(layer, site);
    std::vector<float> const& v = data_[slot(layer, site)];
    return {v.data(), v.size() / width_, width_};
  }

  /// A copy of rows(layer, site) as an Eigen matrix.
  model::RowMatrixF matrix(std::size_t layer, model::LinearInput site) const {
    MatrixView<float const> const v = rows(layer, site);
    return to_matrix(v);
  }

  /// All recorded (layer, site) stacked, [n_layers_recorded · 2 · n_rows × d], in the reference's
  /// module order: layer 0 kAttention, layer 0 kMlp, layer 1 kAttention, … (DFRot's A0).
  model::RowMatrixF stacked() const {
    std::vector<std::size_t> const ls = layers();
    Eigen::Index const per = static_cast<Eigen::Index>(n_rows());
    model::RowMatrixF out(per * static_cast<Eigen::Index>(2 * ls.size()),
                          static_cast<Eigen::Index>(width_));
    Eigen::Index r = 0;
    for (std::size_t l : ls) {
      for (model::LinearInput s : kSites) {
        out.middleRows(r, per) = to_matrix(rows(l, s));
        r += per;
      }
    }
    return out;
  }

  /// Drops everything recorded (the options stay).
  void clear() {
    for (auto& v : data_) v.clear();
    tokens_.clear();
    n_windows_ = 0;
    window_rows_ = 0;
    window_positions_.clear();
  }

  /// The two sites recorded, in stacking order.
  static constexpr model::LinearInput kSites[2] = {model::LinearInput::kAttention,
                                                   model::LinearInput::kMlp};
  static constexpr bool is_norm_site(model::LinearInput s) {
    return s == model::LinearInput::kAttention || s == model::LinearInput::kMlp;
  }

 private:
  static std::size_t slot(std::size_t layer, model::LinearInput site) {
    return 2 * layer + (site == model::LinearInput::kMlp ? 1 : 0);
  }

  static model::RowMatrixF to_matrix(MatrixView<float const> v) {
    model::RowMatrixF m(static_cast<Eigen::Index>(v.rows()), static_cast<Eigen::Index>(v.cols()));
    for (std::size_t r = 0; r < v.rows(); ++r)
      std::copy(v.row(r), v.row(r) + v.cols(), m.data() + r * v.cols());
    return m;
  }

  void check(std::size_t layer, model::LinearInput site) const {
    DFROT_THROW_IF(!captures(layer), UsageError, "activation capture: layer ", layer,
                   " was not recorded");
    DFROT_THROW_IF(!is_norm_site(site), UsageError,
                   "activation capture: only the RMSNorm outputs (attention, mlp) are recorded");
  }

  void start_window(std::size_t n_tokens) {
    window_rows_ = n_tokens;
    window_positions_.clear();
    for (std::size_t p = 0; p < n_tokens; p += options_.token_stride) {
      if (options_.max_tokens_per_window != 0 &&
          window_positions_.size() == options_.max_tokens_per_window)
        break;
      window_positions_.push_back(p);
      tokens_.push_back({n_windows_, p});
    }
    ++n_windows_;
  }

  std::size_t n_layers_;
  std::size_t width_;
  CaptureOptions options_;
  std::vector<bool> enabled_;
  std::vector<std::vector<float>> data_;  // [2·layer + site] → rows, row-major, width_ each
  std::vector<CapturedToken> tokens_;
  std::size_t n_windows_ = 0;
  std::size_t window_rows_ = 0;
  std::vector<std::size_t> window_positions_;  // kept positions of the current window
};

/// Progress of capture_rmsnorm_outputs: `done` of `total` windows have run.
using CaptureProgress = std::function<void(std::size_t done, std::size_t total)>;

/// Runs every window through `model` (one prefill call each, fresh KV cache) and returns the
/// RMSNorm outputs of all decoder layers. Fuse the norms first (fuse_rms_norms) to get DFRot's
/// calibration rows; otherwise the rows carry each norm's γ.
/// \throws ShapeError when a window is empty or longer than the model's positions.
inline ActivationCapture capture_rmsnorm_outputs(model::LlamaModel const& model,
                                                 std::span<std::vector<int> const> windows,
                                                 CaptureOptions const& options = {},
                                                 int n_threads = 0,
                                                 CaptureProgress const& progress = {}) {
  ActivationCapture capture(model.config(), options);
  for (std::size_t i = 0; i < windows.size(); ++i) {
    DFROT_THROW_IF(windows[i].empty(), ShapeError, "activation capture: window ", i, " is empty");
    model::KvCache cache = model.make_cache();
    (void)model.forward_hidden(windows[i], cache, &capture, {.n_threads = n_threads});
    if (progress) progress(i + 1, windows.size());
  }
  return capture;
}

}  // namespace dfrot::pipeline
