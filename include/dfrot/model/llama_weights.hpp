// SPDX-License-Identifier: Apache-2.0
// LlamaWeights: the FP32 weights of a LLaMA-family model as row-major matrices [out, in], ready to
// be rewritten (norm fusion, rotations) before inference.
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "dfrot/core/error.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/model_config.hpp"

namespace dfrot::model {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXf;

struct LayerWeights {
  Vector attention_norm;  ///< [d]
  RowMatrix wq;           ///< [n_heads·d_h, d]
  RowMatrix wk;           ///< [n_kv·d_h, d]
  RowMatrix wv;           ///< [n_kv·d_h, d]
  RowMatrix wo;           ///< [d, n_heads·d_h]
  Vector ffn_norm;        ///< [d]
  RowMatrix w_gate;       ///< [d_ff, d] (w1)
  RowMatrix w_up;         ///< [d_ff, d] (w3)
  RowMatrix w_down;       ///< [d, d_ff] (w2)
};

/// Weights with the canonical RoPE layout (adjacent pairs (2i, 2i+1) within a head).
struct LlamaWeights {
  ModelConfig config;
  RowMatrix tok_embeddings;  ///< [vocab, d]
  Vector norm;               ///< [d]
  RowMatrix output;          ///< [vocab, d]; empty while the embeddings are tied
  std::vector<LayerWeights> layers;
  std::vector<float> rope_freq_factors;  ///< [d_h/2] divisors of the RoPE frequencies, or empty

  bool is_tied() const { return output.size() == 0; }
  /// The lm_head matrix: `output`, or the embeddings while tied (no copy for FP inference).
  RowMatrix const& lm_head() const { return is_tied() ? tok_embeddings : output; }
  /// Gives the lm_head its own copy, so rotations and fusions can change it independently.
  void untie() {
    if (is_tied()) output = tok_embeddings;
  }
};

namespace detail {

/// \throws NumericError naming the model and tensor (and the first bad element) for NaN or Inf:
/// a non-finite weight would otherwise turn every later result silently into NaN.
inline void check_finite(io::LlamaCheckpoint const& ckpt, std::string const& name,
                         std::vector<float> const& data) {
  for (std::size_t i = 0; i < data.size(); ++i) {
    DFROT_THROW_IF(!std::isfinite(data[i]), NumericError, "model '", ckpt.path, "': tensor '", name,
                   "' has a non-finite value (", data[i], ") at element ", i);
  }
}

inline RowMatrix take_matrix(io::LlamaCheckpoint& ckpt, std::string const& name, std::size_t rows,
                             std::size_t cols) {
  auto it = ckpt.tensors.find(name);
  DFROT_THROW_IF(it == ckpt.tensors.end(), FormatError, "model '", ckpt.path, "': tensor '", name,
                 "' is missing");
  io::Tensor& t = it->second;
  bool const shape_ok = t.shape.size() == 2 && t.shape[0] == rows && t.shape[1] == cols;
  DFROT_THROW_IF(!shape_ok || t.data.size() != rows * cols, ShapeError, "model '", ckpt.path,
                 "': tensor '", name, "' has shape ", t.shape.size() == 2 ? t.shape[0] : 0, "×",
                 t.shape.size() == 2 ? t.shape[1] : 0, " but the config expects ", rows, "×", cols);
  check_finite(ckpt, name, t.data);
  RowMatrix m = Eigen::Map<RowMatrix>(t.data.data(), static_cast<Eigen::Index>(rows),
                                      static_cast<Eigen::Index>(cols));
  std::vector<float>().swap(t.data);  // release as we go: peak memory stays near one copy
  return m;
}

inline Vector take_vector(io::LlamaCheckpoint& ckpt, std::string const& name, std::size_t n) {
  auto it = ckpt.tensors.find(name);
  DFROT_THROW_IF(it == ckpt.tensors.end(), FormatError, "model '", ckpt.path, "': tensor '", name,
                 "' is missing");
  io::Tensor& t = it->second;
  DFROT_THROW_IF(t.data.size() != n, ShapeError, "model '", ckpt.path, "': tensor '", name,
                 "' has ", t.data.size(), " elements but the config expects ", n);
  check_finite(ckpt, name, t.data);
  Vector v = Eigen::Map<Vector>(t.data.data(), static_cast<Eigen::Index>(n));
  std::vector<float>().swap(t.data);
  return v;
}

}  // namespace detail

/// Moves the tensors of a loaded checkpoint into LlamaWeights, checking every shape.
/// \throws FormatError for a missing tensor, ShapeError for a wrong shape.
inline LlamaWeights make_llama_weights(io::LlamaCheckpoint&& ckpt) {
  ModelConfig const& c = ckpt.hparams;
  validate(c);
  LlamaWeights w;
  w.config = c;
  std::size_t const d = c.hidden, q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  w.tok_embeddings = detail::take_matrix(ckpt, "tok_embeddings", c.vocab, d);
  w.norm = detail::take_vector(ckpt, "norm", d);
  if (ckpt.tensors.count("output") != 0) {
    w.output = detail::take_matrix(ckpt, "output", c.vocab, d);
  } else {
    DFROT_THROW_IF(!c.tied_embeddings, FormatError, "model '", ckpt.path,
                   "': tensor 'output' is missing and the embeddings are not tied");
    // Tied: lm_head() reads tok_embeddings until a transformation calls untie().
  }
  if (auto it = ckpt.tensors.find("rope_freqs"); it != ckpt.tensors.end()) {
    DFROT_THROW_IF(it->second.data.size() != c.head_dim / 2, ShapeError, "model '", ckpt.path,
                   "': tensor 'rope_freqs' has ", it->second.data.size(), " elements, expected ",
                   c.head_dim / 2);
    detail::check_finite(ckpt, "rope_freqs", it->second.data);
    w.rope_freq_factors = std::move(it->second.data);
  }
  w.layers.resize(c.n_layers);
  for (std::size_t i = 0; i < c.n_layers; ++i) {
    std::string const p = str_cat("layers.", i, ".");
    LayerWeights& l = w.layers[i];
    l.attention_norm = detail::take_vector(ckpt, p + "attention_norm", d);
    l.wq = detail::take_matrix(ckpt, p + "attention.wq", q, d);
    l.wk = detail::take_matrix(ckpt, p + "attention.wk", kv, d);
    l.wv = detail::take_matrix(ckpt, p + "attention.wv", kv, d);
    l.wo = detail::take_matrix(ckpt, p + "attention.wo", d, q);
    l.ffn_norm = detail::take_vector(ckpt, p + "ffn_norm", d);
    l.w_gate = detail::take_matrix(ckpt, p + "feed_forward.w1", c.intermediate, d);
    l.w_down = detail::take_matrix(ckpt, p + "feed_forward.w2", d, c.intermediate);
    l.w_up = detail::take_matrix(ckpt, p + "feed_forward.w3", c.intermediate, d);
  }
  return w;
}

}  // namespace dfrot::model
