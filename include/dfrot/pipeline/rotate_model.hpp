// SPDX-License-Identifier: Apache-2.0
// Residual rotation R1, head-wise V/O rotations and the down_proj Hadamard, fused into the weights
// in float64 (ALGORITHMS.md §1.3-§1.5).
#pragma once

#include <algorithm>

#include <span>

#include <Eigen/Core>

#include "dfrot/core/error.hpp"
#include "dfrot/hadamard/hadamard_transform.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "dfrot/rotation/signed_hadamard.hpp"

namespace dfrot::pipeline {

namespace detail {
/// W ← W·Q in float64, by blocks of rows (a 128k-row embedding would need 4 GB of float64 at once).
inline void right_multiply(model::RowMatrix& w, Eigen::MatrixXd const& q) {
  constexpr Eigen::Index kBlock = 4096;
  for (Eigen::Index r0 = 0; r0 < w.rows(); r0 += kBlock) {
    Eigen::Index const n = std::min(kBlock, w.rows() - r0);
    Eigen::MatrixXd const block = w.middleRows(r0, n).cast<double>() * q;
    w.middleRows(r0, n) = block.cast<float>();
  }
}
inline void left_multiply_transposed(model::RowMatrix& w, Eigen::MatrixXd const& q) {  // W ← Qᵀ·W
  w = (q.transpose() * w.cast<double>()).cast<float>();
}
inline bool norms_are_fused(model::LlamaWeights const& w) {
  auto ones = [](model::Vector const& v) { return (v.array() == 1.0f).all(); };
  if (!ones(w.norm) || w.is_tied()) return false;
  for (auto const& l : w.layers) {
    if (!ones(l.attention_norm) || !ones(l.ffn_norm)) return false;
  }
  return true;
}
}  // namespace detail

namespace detail {
/// Q applied as a dense float64 matrix, or as a SignedHadamard through the butterfly.
struct DenseRotation {
  Eigen::MatrixXd const& q;
  void right(model::RowMatrix& w) const { right_multiply(w, q); }
  void left_transposed(model::RowMatrix& w) const { left_multiply_transposed(w, q); }
};
struct FactoredRotation {
  rotation::SignedHadamard const& q;
  int n_threads;
  static MatrixView<float> view(model::RowMatrix& w) {
    return {w.data(), static_cast<std::size_t>(w.rows()), static_cast<std::size_t>(w.cols())};
  }
  void right(model::RowMatrix& w) const { q.right_multiply(view(w), n_threads); }
  void left_transposed(model::RowMatrix& w) const { q.left_multiply_transposed(view(w), n_threads); }
};
template <class Rotation>
void rotate_layer_residual(model::LayerWeights& l, Rotation const& q) {
  q.right(l.wq);
  q.right(l.wk);
  q.right(l.wv);
  q.left_transposed(l.wo);
  q.right(l.w_gate);
  q.right(l.w_up);
  q.left_transposed(l.w_down);
}
template <class Rotation>
void rotate_dense_residual(model::LlamaWeights& w, Rotation const& q) {
  q.right(w.tok_embeddings);
  q.right(w.output);
}
}  // namespace detail

/// One layer's part of rotate_residual: q/k/v and gate/up W·Q, o_proj and down_proj Qᵀ·W.
/// \pre the layer's norms are fused and Q is d×d (rotate_residual checks both).
inline void rotate_layer_residual(model::LayerWeights& l, Eigen::MatrixXd const& q) {
  detail::rotate_layer_residual(l, detail::DenseRotation{q});
}
/// The same for QuaRot's randomized Hadamard in factored form (equal up to float64 rounding).
inline void rotate_layer_residual(model::LayerWeights& l, rotation::SignedHadamard const& q, int n_threads) {
  detail::rotate_layer_residual(l, detail::FactoredRotation{q, n_threads});
}

/// The dense part of rotate_residual: embeddings and lm_head, W·Q.
/// \pre the final norm is fused (the lm_head untied) and Q is d×d.
inline void rotate_dense_residual(model::LlamaWeights& w, Eigen::MatrixXd const& q) {
  detail::rotate_dense_residual(w, detail::DenseRotation{q});
}
inline void rotate_dense_residual(model::LlamaWeights& w, rotation::SignedHadamard const& q, int n_threads) {
  detail::rotate_dense_residual(w, detail::FactoredRotation{q, n_threads});
}

/// Rotates the residual stream by Q (x ↦ x·Q): embeddings, q/k/v and gate/up (input side, W·Q),
/// o_proj and down_proj (output side, Qᵀ·W) and the lm_head (W·Q).
/// \pre fuse_rms_norms() was applied. \throws ShapeError when Q is not d×d or norms are not fused.
inline void rotate_residual(model::LlamaWeights& w, Eigen::MatrixXd const& q) {
  Eigen::Index const d = static_cast<Eigen::Index>(w.config.hidden);
  DFROT_THROW_IF(q.rows() != d || q.cols() != d, ShapeError, "rotate_residual: rotation is ",
                 q.rows(), "×", q.cols(), " but the hidden size is ", d);
  DFROT_THROW_IF(!detail::norms_are_fused(w), ShapeError,
                 "rotate_residual: fuse the RMSNorm scales first (RMSNorm does not commute with "
                 "a rotation while it has a per-channel scale)");
  for (auto& l : w.layers) rotate_layer_residual(l, q);
  rotate_dense_residual(w, q);
}

/// DFRot / SpinQuant style V/O rotation of one layer with no online op: every head's value rows are
/// mixed by R (d_h×d_h orthogonal) and the matching o_proj input columns by R too:
/// W_v[head] ← Rᵀ·W_v[head], W_o[:, head] ← W_o[:, head]·R. Attention is linear in V, so the model
/// output is unchanged while the V cache holds v·R. \throws ShapeError when R is not d_h×d_h.
inline void rotate_layer_values_per_head(model::LayerWeights& l, model::ModelConfig const& c,
                                         Eigen::MatrixXd const& r) {
  Eigen::Index const dh = static_cast<Eigen::Index>(c.head_dim);
  DFROT_THROW_IF(r.rows() != dh || r.cols() != dh, ShapeError, "rotate_values_per_head: R is ",
                 r.rows(), "×", r.cols(), " but the head dim is ", dh);
  Eigen::MatrixXd wv = l.wv.cast<double>();
  for (std::size_t g = 0; g < c.n_kv_heads; ++g) {
    auto block = wv.middleRows(static_cast<Eigen::Index>(g) * dh, dh);
    block = (r.transpose() * block).eval();
  }
  l.wv = wv.cast<float>();
  Eigen::MatrixXd wo = l.wo.cast<double>();
  for (std::size_t h = 0; h < c.n_heads; ++h) {
    auto block = wo.middleCols(static_cast<Eigen::Index>(h) * dh, dh);
    block = (block * r).eval();
  }
  l.wo = wo.cast<float>();
}

/// The same rotation R (default H_{d_h}/√d_h, DFRot) in every layer.
inline void rotate_values_per_head(model::LlamaWeights& w, Eigen::MatrixXd const& r) {
  for (auto& l : w.layers) rotate_layer_values_per_head(l, w.config, r);
}

/// A per-layer set (SpinQuant's learned R2, one d_h×d_h matrix per layer).
/// \throws ShapeError when the set does not have one matrix per layer.
inline void rotate_values_per_head(model::LlamaWeights& w, std::span<Eigen::MatrixXd const> per_layer) {
  DFROT_THROW_IF(per_layer.size() != w.layers.size(), ShapeError, "rotate_values_per_head: ",
                 per_layer.size(), " R2 matrices for ", w.layers.size(), " layers");
  for (std::size_t l = 0; l < w.layers.size(); ++l)
    rotate_layer_values_per_head(w.layers[l], w.config, per_layer[l]);
}

/// H_{d_h}/√d_h as a dense matrix (the deterministic per-head rotation of DFRot, QuaRot's V).
inline Eigen::MatrixXd head_hadamard(std::size_t head_dim) {
  std::vector<double> const t = hadamard::HadamardTransform(head_dim).dense();
  Eigen::Index const n = static_cast<Eigen::Index>(head_dim);
  return Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> const>(
      t.data(), n, n);
}

/// Offline half of an online input transform: W ← W·Tᵀ, so that feeding the linear T·u instead
/// of u leaves its output unchanged. Used for down_proj (R4, T = T_{d_ff}) and, in QuaRot style,
/// o_proj (T = T_d). Applied in float32 through the exact butterfly, as QuaRot does.
inline void fuse_input_transform(model::RowMatrix& w, hadamard::HadamardTransform const& t) {
  DFROT_THROW_IF(static_cast<std::size_t>(w.cols()) != t.size(), ShapeError,
                 "fuse_input_transform: weight has ", w.cols(), " inputs but the transform has size ",
                 t.size());
  // Row i of W ← (T·W[i]ᵀ)ᵀ = W[i]·Tᵀ.
  t.apply_rows(MatrixView<float>(w.data(), static_cast<std::size_t>(w.rows()),
                                 static_cast<std::size_t>(w.cols())));
}

}  // namespace dfrot::pipeline
