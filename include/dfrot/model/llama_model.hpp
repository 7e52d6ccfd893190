// SPDX-License-Identifier: Apache-2.0
// LlamaModel: the FP32 LLaMA forward pass (RMSNorm, RoPE, GQA attention with a KV cache, SwiGLU),
// batched prefill and token-by-token decode through one code path.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include <Eigen/Core>

#include "dfrot/core/error.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/model/forward_hooks.hpp"
#include "dfrot/model/kv_cache.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "dfrot/model/rope.hpp"

namespace dfrot::model {

/// y = x / sqrt(mean(x²) + eps) · w for every row (sum of squares in float64).
inline void rms_norm(Eigen::Ref<RowMatrixF const> const& x, Vector const& weight, float eps,
                     Eigen::Ref<RowMatrixF> y) {
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    double ss = 0;
    for (Eigen::Index i = 0; i < x.cols(); ++i) ss += double(x(t, i)) * double(x(t, i));
    float const inv = static_cast<float>(1.0 / std::sqrt(ss / double(x.cols()) + double(eps)));
    y.row(t) = (x.row(t) * inv).cwiseProduct(weight.transpose());
  }
}

struct ForwardOptions {
  int n_threads = 0;  ///< <= 0: all cores
};

/// A LLaMA-family model ready to run. The weights are public so that transformation passes
/// (norm fusion, rotations, quantization) can rewrite them before inference.
class LlamaModel {
 public:
  explicit LlamaModel(LlamaWeights weights, std::size_t max_positions = 0)
      : weights_(std::move(weights)),
        rope_(weights_.config,
              max_positions ? max_positions : std::max<std::size_t>(weights_.config.max_seq_len, 1),
              weights_.rope_freq_factors),
        backend_(std::make_shared<LinearBackend>()) {}

  ModelConfig const& config() const { return weights_.config; }
  LlamaWeights& weights() { return weights_; }
  LlamaWeights const& weights() const { return weights_; }
  std::size_t max_positions() const { return rope_.positions(); }

  /// Replaces the GEMM backend (default: Eigen FP32).
  void set_backend(std::shared_ptr<LinearBackend const> backend) { backend_ = std::move(backend); }

  /// A cache sized for this model and `max_positions()`.
  KvCache make_cache() const { return KvCache(weights_.config, max_positions()); }

  /// Embedding rows of `tokens`, [n, d]. \throws ShapeError for an id outside the vocabulary
  /// (`first` only labels positions in the message).
  RowMatrixF embed(std::span<int const> tokens, std::size_t first = 0) const {
    ModelConfig const& c = weights_.config;
    RowMatrixF x(static_cast<Eigen::Index>(tokens.size()), static_cast<Eigen::Index>(c.hidden));
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      int const id = tokens[t];
      DFROT_THROW_IF(id < 0 || static_cast<std::size_t>(id) >= c.vocab, ShapeError,
                     "forward: token id ", id, " at position ", first + t,
                     " is outside the vocabulary of ", c.vocab);
      x.row(static_cast<Eigen::Index>(t)) = weights_.tok_embeddings.row(id);
    }
    return x;
  }

  /// Runs decoder layer `l` on the residual stream x [n, d] (in place) at positions
  /// [cache.size(), cache.size() + n), storing that layer's K/V in the cache without advancing it
  /// (the caller commits once every layer has stored). Layer-by-layer drivers (GPTQ's "true
  /// sequential" order) call this directly. Returns false when a hook asked to stop early
  /// (ForwardHooks::stop_requested), leaving x partially updated.
  bool forward_layer(std::size_t l, RowMatrixF& x, KvCache& cache, ForwardHooks* hooks = nullptr,
                     ForwardOptions const& opt = {}) const {
    ModelConfig const& c = weights_.config;
    DFROT_THROW_IF(l >= c.n_layers, ShapeError, "forward: layer ", l, " of a ", c.n_layers,
                   "-layer model");
    DFROT_THROW_IF(x.cols() != static_cast<Eigen::Index>(c.hidden), ShapeError,
                   "forward: hidden states have ", x.cols(), " columns, expected ", c.hidden);
    Eigen::Index const n = x.rows();
    Eigen::Index const d = static_cast<Eigen::Index>(c.hidden);
    std::size_t const first = cache.size();
    DFROT_THROW_IF(first + static_cast<std::size_t>(n) > max_positions(), ShapeError,
                   "forward: positions ", first, "..", first + static_cast<std::size_t>(n),
                   " exceed the model's ", max_positions());
    ForwardHooks no_hooks;
    ForwardHooks& h = hooks ? *hooks : no_hooks;
    int const threads = resolve_threads(opt.n_threads);
    Eigen::setNbThreads(threads);
    Eigen::Index const q_width = static_cast<Eigen::Index>(c.n_heads * c.head_dim);
    Eigen::Index const kv_width = static_cast<Eigen::Index>(c.n_kv_heads * c.head_dim);
    Eigen::Index const ff = static_cast<Eigen::Index>(c.intermediate);
    RowMatrixF hn(n, d), q(n, q_width), k(n, kv_width), v(n, kv_width), attn(n, q_width);
    RowMatrixF out(n, d), gate(n, ff), up(n, ff);
    float const eps = static_cast<float>(c.norm_eps);
    LayerWeights const& w = weights_.layers[l];
    rms_norm(x, w.attention_norm, eps, hn);
    h.linear_input(l, LinearInput::kAttention, view(hn));
    if (h.stop_requested()) return false;
    backend_->matmul(hn, w.wq, q);
    backend_->matmul(hn, w.wk, k);
    backend_->matmul(hn, w.wv, v);
    rope_.apply(view(q), first);
    rope_.apply(view(k), first);
    h.query(l, view(q));
    h.key(l, view(k));
    h.value(l, view(v));
    cache.store(l, view_const(k), view_const(v));
    attention(q, cache, l, first, threads, attn);
    h.linear_input(l, LinearInput::kAttnOut, view(attn));
    if (h.stop_requested()) return false;
    backend_->matmul(attn, w.wo, out);
    x += out;
    rms_norm(x, w.ffn_norm, eps, hn);
    h.linear_input(l, LinearInput::kMlp, view(hn));
    if (h.stop_requested()) return false;
    backend_->matmul(hn, w.w_gate, gate);
    backend_->matmul(hn, w.w_up, up);
    // SwiGLU: SiLU(gate)·up, computed in place in `gate`.
    gate = (gate.array() / (1.0f + (-gate.array()).exp())) * up.array();
    h.linear_input(l, LinearInput::kDown, view(gate));
    if (h.stop_requested()) return false;
    backend_->matmul(gate, w.w_down, out);
    x += out;
    return true;
  }

  /// The final RMSNorm of residual states x [n, d] (then the lm_head input hook).
  RowMatrixF final_norm(RowMatrixF const& x, ForwardHooks* hooks = nullptr) const {
    RowMatrixF hn(x.rows(), x.cols());
    rms_norm(x, weights_.norm, static_cast<float>(weights_.config.norm_eps), hn);
    if (hooks) hooks->linear_input(weights_.config.n_layers, LinearInput::kLmHead, view(hn));
    return hn;
  }

  /// Runs `tokens` at positions [cache.size(), cache.size() + n) and returns the final hidden
  /// states after the last RMSNorm, [n, d]. Appends to the cache.
  /// \throws ShapeError when a token id is out of range or the cache is full.
  RowMatrixF forward_hidden(std::span<int const> tokens, KvCache& cache,
                            ForwardHooks* hooks = nullptr, ForwardOptions const& opt = {}) const {
    std::size_t const first = cache.size();
    DFROT_THROW_IF(first + tokens.size() > max_positions(), ShapeError, "forward: positions ",
                   first, "..", first + tokens.size(), " exceed the model's ", max_positions());
    RowMatrixF x = embed(tokens, first);
    for (std::size_t l = 0; l < weights_.config.n_layers; ++l) {
      if (!forward_layer(l, x, cache, hooks, opt)) break;
    }
    cache.commit(tokens.size());
    return final_norm(x, hooks);
  }

  /// Logits [n, vocab] = hidden · outputᵀ for hidden states from forward_hidden.
  RowMatrixF logits(Eigen::Ref<RowMatrixF const> const& hidden) const {
    RowMatrixF out(hidden.rows(), weights_.lm_head().rows());
    backend_->matmul(hidden, weights_.lm_head(), out);
    return out;
  }

  /// forward_hidden followed by logits.
  RowMatrixF forward(std::span<int const> tokens, KvCache& cache, ForwardHooks* hooks = nullptr,
                     ForwardOptions const& opt = {}) const {
    return logits(forward_hidden(tokens, cache, hooks, opt));
  }

 private:
  static MatrixView<float> view(RowMatrixF& m) {
    return {m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())};
  }
  static MatrixView<float const> view_const(RowMatrixF const& m) {
    return {m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())};
  }

  // Causal grouped-query attention of the n new queries over cache positions [0, first + t].
  void attention(RowMatrixF const& q, KvCache const& cache, std::size_t layer, std::size_t first,
                 int threads, RowMatrixF& out) const {
    ModelConfig const& c = weights_.config;
    using Stride = Eigen::OuterStride<>;
    using ConstMap = Eigen::Map<RowMatrixF const, 0, Stride>;
    using Map = Eigen::Map<RowMatrixF, 0, Stride>;
    Eigen::Index const n = q.rows();
    Eigen::Index const d_h = static_cast<Eigen::Index>(c.head_dim);
    Eigen::Index const total = static_cast<Eigen::Index>(first) + n;
    Eigen::Index const kv_width = static_cast<Eigen::Index>(cache.width());
    std::size_t const group = c.n_heads / c.n_kv_heads;
    float const scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    // Rows go in blocks so that each block only scores the keys it can see (causal: about half
    // of the full n×total product for a prefill).
    constexpr Eigen::Index kRowBlock = 128;
    parallel_for(c.n_heads, threads, 1, [&](std::size_t begin, std::size_t end) {
      RowMatrixF scores(std::min(n, kRowBlock), total);
      for (std::size_t head = begin; head < end; ++head) {
        Eigen::Index const kv_col = static_cast<Eigen::Index>(head / group) * d_h;
        Eigen::Index const q_col = static_cast<Eigen::Index>(head) * d_h;
        for (Eigen::Index r0 = 0; r0 < n; r0 += kRowBlock) {
          Eigen::Index const rows = std::min(kRowBlock, n - r0);
          Eigen::Index const keys = static_cast<Eigen::Index>(first) + r0 + rows;  // visible to the last row
          ConstMap qh(q.data() + r0 * q.cols() + q_col, rows, d_h, Stride(q.cols()));
          ConstMap kh(cache.keys(layer) + kv_col, keys, d_h, Stride(kv_width));
          ConstMap vh(cache.values(layer) + kv_col, keys, d_h, Stride(kv_width));
          auto s = scores.topLeftCorner(rows, keys);
          s.noalias() = (qh * kh.transpose()) * scale;
          for (Eigen::Index t = 0; t < rows; ++t) {
            Eigen::Index const visible = static_cast<Eigen::Index>(first) + r0 + t + 1;
            auto row = s.row(t);
            float const mx = row.head(visible).maxCoeff();
            float sum = 0;
            for (Eigen::Index j = 0; j < visible; ++j) {
              row(j) = std::exp(row(j) - mx);
              sum += row(j);
            }
            row.head(visible) /= sum;
            row.tail(keys - visible).setZero();
          }
          Map oh(out.data() + r0 * out.cols() + q_col, rows, d_h, Stride(out.cols()));
          oh.noalias() = s * vh;
        }
      }
    });
  }

  LlamaWeights weights_;
  RopeTable rope_;
  std::shared_ptr<LinearBackend const> backend_;
};

}  // namespace dfrot::model
