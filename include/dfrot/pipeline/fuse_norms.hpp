// SPDX-License-Identifier: Apache-2.0
// fuse_rms_norms: fold every RMSNorm scale γ into the linears that read the normalized stream
// (ALGORITHMS.md §1.1), leaving weight-less norms so that RMSNorm(x·Q) = RMSNorm(x)·Q holds.
#pragma once

#include <Eigen/Core>

#include "dfrot/model/llama_weights.hpp"

namespace dfrot::pipeline {

namespace detail {
/// W ← W·diag(γ) in float64 (columns of a [out, in] weight scaled by γ).
/// In place: a float·float product is exact in float64, so this rounds exactly as a float64 copy would.
inline void scale_columns(model::RowMatrix& w, model::Vector const& gamma) {
  for (Eigen::Index r = 0; r < w.rows(); ++r)
    for (Eigen::Index c = 0; c < w.cols(); ++c)
      w(r, c) = static_cast<float>(static_cast<double>(w(r, c)) * static_cast<double>(gamma(c)));
}
}  // namespace detail

/// One layer's part of fuse_rms_norms: attention_norm into wq/wk/wv, ffn_norm into w_gate/w_up.
inline void fuse_layer_rms_norms(model::LayerWeights& layer) {
  detail::scale_columns(layer.wq, layer.attention_norm);
  detail::scale_columns(layer.wk, layer.attention_norm);
  detail::scale_columns(layer.wv, layer.attention_norm);
  layer.attention_norm.setOnes();
  detail::scale_columns(layer.w_gate, layer.ffn_norm);
  detail::scale_columns(layer.w_up, layer.ffn_norm);
  layer.ffn_norm.setOnes();
}

/// The dense part of fuse_rms_norms: unties the embeddings and folds the final norm into the
/// lm_head (the layers are not touched).
inline void fuse_final_rms_norm(model::LlamaWeights& w) {
  w.untie();
  detail::scale_columns(w.output, w.norm);
  w.norm.setOnes();
}

/// Folds attention_norm into wq/wk/wv, ffn_norm into w_gate/w_up and the final norm into the
/// lm_head (untying the embeddings first), then sets every γ to 1. The FP model is unchanged.
inline void fuse_rms_norms(model::LlamaWeights& w) {
  for (auto& layer : w.layers) fuse_layer_rms_norms(layer);
  fuse_final_rms_norm(w);
}

/// Subtracts each embedding row's mean (QuaRot/SpinQuant, inherited from SliceGPT). Not an exact
/// invariance for RMSNorm models (§1.2): a flag, off for DFRot parity.
inline void subtract_embedding_mean(model::LlamaWeights& w) {
  for (Eigen::Index r = 0; r < w.tok_embeddings.rows(); ++r) {
    double mean = 0;
    for (Eigen::Index c = 0; c < w.tok_embeddings.cols(); ++c) mean += double(w.tok_embeddings(r, c));
    mean /= double(w.tok_embeddings.cols());
    for (Eigen::Index c = 0; c < w.tok_embeddings.cols(); ++c)
      w.tok_embeddings(r, c) = static_cast<float>(double(w.tok_embeddings(r, c)) - mean);
  }
}

}  // namespace dfrot::pipeline
