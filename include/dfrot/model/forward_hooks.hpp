// SPDX-License-Identifier: Apache-2.0
// ForwardHooks: the seam where later stages insert online transforms, observers and fake
// quantizers without copying the forward pass (linear_layers.hpp is the one for GEMM engines).
#pragma once

#include <Eigen/Core>

#include "dfrot/core/matrix_view.hpp"

namespace dfrot::model {

/// The activations that feed linear layers (QuaRot's quantization sites, ALGORITHMS.md §3.6).
enum class LinearInput {
  kAttention,  ///< RMSNorm output read by q/k/v_proj (one tensor, shared)
  kAttnOut,    ///< attention output read by o_proj
  kMlp,        ///< RMSNorm output read by gate/up_proj
  kDown,       ///< SiLU(gate)·up read by down_proj
  kLmHead,     ///< final RMSNorm output read by the lm_head
};

/// Observes or rewrites activations in place during the forward pass. Every method receives a
/// [tokens, width] row-major view; the default does nothing.
class ForwardHooks {
 public:
  virtual ~ForwardHooks() = default;
  /// The residual stream entering decoder layer `layer`, before its RMSNorm ([tokens, d]; row
  /// norms are unchanged by a residual rotation, so rules on them hold for rotated models).
  virtual void residual(std::size_t layer, MatrixView<float const> x) { (void)layer, (void)x; }
  /// Before the linears of `site` in `layer` (layer = n_layers for the lm_head).
  virtual void linear_input(std::size_t layer, LinearInput site, MatrixView<float> x) {
    (void)layer, (void)site, (void)x;
  }
  /// Queries after RoPE ([tokens, n_heads·d_h]).
  virtual void query(std::size_t layer, MatrixView<float> q) { (void)layer, (void)q; }
  /// Keys after RoPE, before they enter the cache ([tokens, n_kv·d_h]).
  virtual void key(std::size_t layer, MatrixView<float> k) { (void)layer, (void)k; }
  /// Values before they enter the cache ([tokens, n_kv·d_h]).
  virtual void value(std::size_t layer, MatrixView<float> v) { (void)layer, (void)v; }
  /// Checked after each linear_input of a decoder layer: true ends LlamaModel::forward_layer
  /// there (a calibration pass that only needs one site's inputs skips the rest of the layer).
  virtual bool stop_requested() const { return false; }
};

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace dfrot::model
