// SPDX-License-Identifier: Apache-2.0
// LlamaModel: the FP32 LLaMA forward pass (RMSNorm, RoPE, GQA attention with a KV cache, SwiGLU),
// batched prefill and token-by-token decode through one code path.
#pragma once

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include <Eigen/Core>

#include "dfrot/core/error.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/model/forward_hooks.hpp"
#include "dfrot/model/kv_cache.hpp"
#include "dfrot/model/linear_layers.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "dfrot/model/rope.hpp"
#include "dfrot/model/sequence_segments.hpp"

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

/// The activation buffers of one decoder layer. Passed in ForwardOptions::workspace, they are reused
/// by every layer and every call: a decode loop then allocates none of them after its first step
/// (Eigen's resize keeps the storage when the size does not change).
struct ForwardWorkspace {
  RowMatrixF hn, q, k, v, attn, out, gate, up;
  /// The residual stream, the final RMSNorm's output and the last position's logits of
  /// forward_last_into (the whole forward's buffers, not one layer's).
  RowMatrixF residual, final_hidden, last_logits;
  /// One attention thread's buffers: the scores of a block of query rows, the dequantized keys and
  /// values of one KV head (packed int4 cache), a gathered prefix + rows run (segments). Vectors
  /// keep their capacity, so a decode loop reallocates them only O(log n) times as the cache grows.
  /// Aligned like Eigen's own matrices: Eigen's vectorized sums (the softmax's) peel scalar
  /// elements up to the first aligned one, so a buffer at a varying malloc offset would change
  /// the summation order, and the results, from call to call.
  using Buffer = std::vector<float, Eigen::aligned_allocator<float>>;
  struct AttentionScratch {
    Buffer scores, k_deq, v_deq, k_run, v_run;
  };
  std::vector<AttentionScratch> attention;  ///< slot i: OpenMP thread i of the heads' loop
};

struct ForwardOptions {
  int n_threads = 0;  ///< <= 0: all cores
  /// Reused layer buffers (see ForwardWorkspace); null: each layer allocates its own. One forward
  /// at a time per workspace.
  ForwardWorkspace* workspace = nullptr;
  /// Several sequences in one call (sequence_segments.hpp); empty: the new rows continue the
  /// whole cache as one sequence.
  std::span<SequenceSegment const> segments = {};
};

/// A LLaMA-family model ready to run. The weights are public so that transformation passes
/// (norm fusion, rotations, quantization) can rewrite them before inference.
class LlamaModel {
 public:
  explicit LlamaModel(LlamaWeights weights, std::size_t max_positions = 0)
      : weights_(std::move(weights)),
        rope_(weights_.config,
              max_positions ? max_positions : std::max<std::size_t>(weights_.config.max_seq_len, 1),
              weights_.rope_freq_factors) {}

  ModelConfig const& config() const { return weights_.config; }
  LlamaWeights& weights() { return weights_; }
  LlamaWeights const& weights() const { return weights_; }
  std::size_t max_positions() const { return rope_.positions(); }

  /// Replaces the linear layers and the embedding lookup (default, null: Eigen FP32 on weights()).
  /// With an engine set, weights() only needs its norms: the linear matrices may be empty.
  void set_linears(std::shared_ptr<LinearLayers const> linears) { linears_ = std::move(linears); }
  LinearLayers const* linears() const { return linears_.get(); }

  /// How caches made by make_cache() store K and V (default: FP32).
  void set_kv_format(KvCacheFormat format) { kv_format_ = std::move(format); }
  KvCacheFormat const& kv_format() const { return kv_format_; }

  /// A cache sized for this model and `max_positions()`, in kv_format().
  KvCache make_cache() const { return KvCache(weights_.config, max_positions(), kv_format_); }
  /// A cache of `capacity` rows (a batch of segments may hold more rows than one sequence's
  /// positions), in kv_format().
  KvCache make_cache(std::size_t capacity) const {
    return KvCache(weights_.config, capacity, kv_format_);
  }

  /// Embedding rows of `tokens`, [n, d]. \throws ShapeError for an id outside the vocabulary
  /// (`first` only labels positions in the message).
  RowMatrixF embed(std::span<int const> tokens, std::size_t first = 0) const {
    RowMatrixF x;
    embed_into(tokens, first, x);
    return x;
  }

  /// embed into x (resized; its storage is kept when the size does not change).
  void embed_into(std::span<int const> tokens, std::size_t first, RowMatrixF& x) const {
    ModelConfig const& c = weights_.config;
    x.resize(static_cast<Eigen::Index>(tokens.size()), static_cast<Eigen::Index>(c.hidden));
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      int const id = tokens[t];
      DFROT_THROW_IF(id < 0 || static_cast<std::size_t>(id) >= c.vocab, ShapeError,
                     "forward: token id ", id, " at position ", first + t,
                     " is outside the vocabulary of ", c.vocab);
      if (linears_) {
        linears_->embed(id, {x.row(static_cast<Eigen::Index>(t)).data(), c.hidden});
      } else {
        x.row(static_cast<Eigen::Index>(t)) = weights_.tok_embeddings.row(id);
      }
    }
  }

  /// Runs decoder layer `l` on the residual stream x [n, d] (in place) at positions
  /// [cache.size(), cache.size() + n), storing that layer's K/V in the cache without advancing it
  /// (the caller commits once every layer has stored). Layer-by-layer drivers (GPTQ's "true
  /// sequential" order) call this directly. Returns false when a hook asked to stop early
  /// (ForwardHooks::stop_requested), leaving x partially updated.
  /// \throws NumericError naming the layer when a non-finite value is met inside it (a quantizer or
  /// a hook found NaN/Inf), so a bad model is never a silent NaN perplexity.
  bool forward_layer(std::size_t l, RowMatrixF& x, KvCache& cache, ForwardHooks* hooks = nullptr,
                     ForwardOptions const& opt = {}) const {
    try {
      return forward_layer_unchecked(l, x, cache, hooks, opt);
    } catch (NumericError const& e) {
      throw NumericError(str_cat("decoder layer ", l, ": ", e.what()));
    }
  }

 private:
  bool forward_layer_unchecked(std::size_t l, RowMatrixF& x, KvCache& cache, ForwardHooks* hooks,
                               ForwardOptions const& opt) const {
    ModelConfig const& c = weights_.config;
    DFROT_THROW_IF(l >= c.n_layers, ShapeError, "forward: layer ", l, " of a ", c.n_layers,
                   "-layer model");
    DFROT_THROW_IF(x.cols() != static_cast<Eigen::Index>(c.hidden), ShapeError,
                   "forward: hidden states have ", x.cols(), " columns, expected ", c.hidden);
    Eigen::Index const n = x.rows();
    Eigen::Index const d = static_cast<Eigen::Index>(c.hidden);
    std::size_t const first = cache.size();
    SequenceSegment const whole{static_cast<std::size_t>(n), 0, first};
    std::span<SequenceSegment const> const segments =
        opt.segments.empty() ? std::span<SequenceSegment const>(&whole, 1) : opt.segments;
    if (opt.segments.empty()) {
      DFROT_THROW_IF(first + static_cast<std::size_t>(n) > max_positions(), ShapeError,
                     "forward: positions ", first, "..", first + static_cast<std::size_t>(n),
                     " exceed the model's ", max_positions());
    } else {
      check_segments(segments, static_cast<std::size_t>(n), first, max_positions());
    }
    ForwardHooks no_hooks;
    ForwardHooks& h = hooks ? *hooks : no_hooks;
    int const threads = resolve_threads(opt.n_threads);
    Eigen::setNbThreads(threads);
    Eigen::Index const q_width = static_cast<Eigen::Index>(c.n_heads * c.head_dim);
    Eigen::Index const kv_width = static_cast<Eigen::Index>(c.n_kv_heads * c.head_dim);
    Eigen::Index const ff = static_cast<Eigen::Index>(c.intermediate);
    ForwardWorkspace local;
    ForwardWorkspace& ws = opt.workspace != nullptr ? *opt.workspace : local;
    ws.hn.resize(n, d);
    ws.q.resize(n, q_width);
    ws.k.resize(n, kv_width);
    ws.v.resize(n, kv_width);
    ws.attn.resize(n, q_width);
    ws.out.resize(n, d);
    ws.gate.resize(n, ff);
    ws.up.resize(n, ff);
    RowMatrixF &hn = ws.hn, &q = ws.q, &k = ws.k, &v = ws.v, &attn = ws.attn, &out = ws.out;
    RowMatrixF &gate = ws.gate, &up = ws.up;
    float const eps = static_cast<float>(c.norm_eps);
    LayerWeights const& w = weights_.layers[l];
    h.residual(l, view_const(x));
    rms_norm(x, w.attention_norm, eps, hn);
    h.linear_input(l, LinearInput::kAttention, view(hn));
    if (h.stop_requested()) return false;
    linear(l, LinearInput::kAttention, view_const(hn), {view(q), view(k), view(v)}, threads);
    for (std::size_t s = 0, r = 0; s < segments.size(); r += segments[s++].rows) {
      rope_.apply(rows_of(q, r, segments[s].rows), segments[s].prefix_length());
      rope_.apply(rows_of(k, r, segments[s].rows), segments[s].prefix_length());
    }
    h.query(l, view(q));
    h.key(l, view(k));
    h.value(l, view(v));
    cache.store(l, view_const(k), view_const(v), threads);
    attention(q, cache, l, first, segments, threads, ws, attn);
    h.linear_input(l, LinearInput::kAttnOut, view(attn));
    if (h.stop_requested()) return false;
    linear(l, LinearInput::kAttnOut, view_const(attn), {view(out)}, threads);
    x += out;
    rms_norm(x, w.ffn_norm, eps, hn);
    h.linear_input(l, LinearInput::kMlp, view(hn));
    if (h.stop_requested()) return false;
    linear(l, LinearInput::kMlp, view_const(hn), {view(gate), view(up)}, threads);
    // SwiGLU: SiLU(gate)·up, computed in place in `gate`.
    gate = (gate.array() / (1.0f + (-gate.array()).exp())) * up.array();
    h.linear_input(l, LinearInput::kDown, view(gate));
    if (h.stop_requested()) return false;
    linear(l, LinearInput::kDown, view_const(gate), {view(out)}, threads);
    x += out;
    return true;
  }

 public:

  /// The final RMSNorm of residual states x [n, d] (then the lm_head input hook).
  RowMatrixF final_norm(RowMatrixF const& x, ForwardHooks* hooks = nullptr) const {
    RowMatrixF hn;
    final_norm_into(x, hn, hooks);
    return hn;
  }

  /// final_norm into hn (resized; storage kept when the size does not change).
  void final_norm_into(RowMatrixF const& x, RowMatrixF& hn, ForwardHooks* hooks = nullptr) const {
    hn.resize(x.rows(), x.cols());
    rms_norm(x, weights_.norm, static_cast<float>(weights_.config.norm_eps), hn);
    if (hooks) hooks->linear_input(weights_.config.n_layers, LinearInput::kLmHead, view(hn));
  }

  /// Runs `tokens` at positions [cache.size(), cache.size() + n) and returns the final hidden
  /// states after the last RMSNorm, [n, d]. Appends to the cache.
  /// \throws ShapeError when a token id is out of range or the cache is full.
  RowMatrixF forward_hidden(std::span<int const> tokens, KvCache& cache,
                            ForwardHooks* hooks = nullptr, ForwardOptions const& opt = {}) const {
    RowMatrixF x, hn;
    forward_hidden_into(tokens, cache, hooks, opt, x, hn);
    return hn;
  }

  /// forward_hidden with caller-owned buffers: x holds the residual stream, hn receives the final
  /// hidden states (both resized, their storage reused).
  void forward_hidden_into(std::span<int const> tokens, KvCache& cache, ForwardHooks* hooks,
                           ForwardOptions const& opt, RowMatrixF& x, RowMatrixF& hn) const {
    std::size_t const first = cache.size();
    DFROT_THROW_IF(opt.segments.empty() && first + tokens.size() > max_positions(), ShapeError,
                   "forward: positions ", first, "..", first + tokens.size(), " exceed the model's ",
                   max_positions());
    embed_into(tokens, first, x);
    for (std::size_t l = 0; l < weights_.config.n_layers; ++l) {
      if (!forward_layer(l, x, cache, hooks, opt)) break;
    }
    cache.commit(tokens.size());
    final_norm_into(x, hn, hooks);
  }

  /// Logits [n, vocab] = hidden · outputᵀ for hidden states from forward_hidden.
  RowMatrixF logits(MatrixView<float const> hidden, int n_threads = 0) const {
    RowMatrixF out(static_cast<Eigen::Index>(hidden.rows()),
                   static_cast<Eigen::Index>(weights_.config.vocab));
    linear(weights_.config.n_layers, LinearInput::kLmHead, hidden, {view(out)},
           resolve_threads(n_threads));
    return out;
  }
  RowMatrixF logits(RowMatrixF const& hidden, int n_threads = 0) const {
    return logits(view_const(hidden), n_threads);
  }

  /// forward_hidden, then the logits of the last position only [1, vocab] — what generation and
  /// llama-bench's prompt processing need (the lm_head is ~20% of a 4-bit model's prefill work).
  RowMatrixF forward_last(std::span<int const> tokens, KvCache& cache, ForwardHooks* hooks = nullptr,
                          ForwardOptions const& opt = {}) const {
    DFROT_THROW_IF(tokens.empty(), ShapeError, "forward_last: no tokens");
    RowMatrixF const hidden = forward_hidden(tokens, cache, hooks, opt);
    return logits(MatrixView<float const>(hidden.data() + (tokens.size() - 1) * static_cast<std::size_t>(hidden.cols()), 1,
                                          static_cast<std::size_t>(hidden.cols())),
                  opt.n_threads);
  }

  /// forward_last into `ws` (residual, final_hidden, last_logits) as well as its layer buffers:
  /// once a decode loop has reached its sizes, a step allocates nothing in the forward. The
  /// returned [1, vocab] row lives in ws.last_logits until the next call.
  std::span<float const> forward_last_into(std::span<int const> tokens, KvCache& cache,
                                           ForwardHooks* hooks, ForwardOptions opt,
                                           ForwardWorkspace& ws) const {
    DFROT_THROW_IF(tokens.empty(), ShapeError, "forward_last: no tokens");
    opt.workspace = &ws;
    forward_hidden_into(tokens, cache, hooks, opt, ws.residual, ws.final_hidden);
    std::size_t const d = static_cast<std::size_t>(ws.final_hidden.cols());
    ws.last_logits.resize(1, static_cast<Eigen::Index>(weights_.config.vocab));
    linear(weights_.config.n_layers, LinearInput::kLmHead,
           MatrixView<float const>(ws.final_hidden.data() + (tokens.size() - 1) * d, 1, d),
           {view(ws.last_logits)}, resolve_threads(opt.n_threads));
    return {ws.last_logits.data(), weights_.config.vocab};
  }

  /// forward_hidden followed by logits.
  RowMatrixF forward(std::span<int const> tokens, KvCache& cache, ForwardHooks* hooks = nullptr,
                     ForwardOptions const& opt = {}) const {
    return logits(forward_hidden(tokens, cache, hooks, opt), opt.n_threads);
  }

 private:
  // The linears of `site`: through the engine when one is set, else Eigen SGEMMs on weights().
  void linear(std::size_t l, LinearInput site, MatrixView<float const> x,
              std::initializer_list<MatrixView<float>> outs, int threads) const {
    std::span<MatrixView<float> const> const o(outs.begin(), outs.size());
    if (linears_) {
      linears_->apply(l, site, x, o, threads);
      return;
    }
    Eigen::Map<RowMatrixF const, 0, Eigen::OuterStride<>> const xm(
        x.data(), static_cast<Eigen::Index>(x.rows()), static_cast<Eigen::Index>(x.cols()),
        Eigen::OuterStride<>(static_cast<Eigen::Index>(x.row_stride())));
    auto dense = [&](RowMatrix const& w, MatrixView<float> y) {
      Eigen::Map<RowMatrixF> ym(y.data(), static_cast<Eigen::Index>(y.rows()),
                                static_cast<Eigen::Index>(y.cols()));
      ym.noalias() = xm * w.transpose();
    };
    if (site == LinearInput::kLmHead) {
      dense(weights_.lm_head(), o[0]);
      return;
    }
    LayerWeights const& w = weights_.layers[l];
    switch (site) {
      case LinearInput::kAttention: dense(w.wq, o[0]); dense(w.wk, o[1]); dense(w.wv, o[2]); break;
      case LinearInput::kAttnOut: dense(w.wo, o[0]); break;
      case LinearInput::kMlp: dense(w.w_gate, o[0]); dense(w.w_up, o[1]); break;
      case LinearInput::kDown: dense(w.w_down, o[0]); break;
      case LinearInput::kLmHead: break;
    }
  }

  static MatrixView<float> view(RowMatrixF& m) {
    return {m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())};
  }
  static MatrixView<float const> view_const(RowMatrixF const& m) {
    return {m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())};
  }
  static MatrixView<float> rows_of(RowMatrixF& m, std::size_t first_row, std::size_t rows) {
    auto const cols = static_cast<std::size_t>(m.cols());
    return {m.data() + first_row * cols, rows, cols};
  }

  // Grouped-query attention of the n new queries: the rows of each segment see its prefix and,
  // causally, the segment's own rows (stored at cache rows first + its row offset onwards).
  void attention(RowMatrixF const& q, KvCache const& cache, std::size_t layer, std::size_t first,
                 std::span<SequenceSegment const> segments, int threads, ForwardWorkspace& ws,
                 RowMatrixF& out) const {
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
    std::size_t longest = 0;  // keys of the widest segment
    for (SequenceSegment const& g : segments) longest = std::max(longest, g.prefix_length() + g.rows);
    // Rows go in blocks so that each block only scores the keys it can see (causal: about half
    // of the full n×total product for a prefill).
    constexpr Eigen::Index kRowBlock = 128;
    KvStore const& k_store = cache.keys_of(layer);
    KvStore const& v_store = cache.values_of(layer);
    if (ws.attention.size() < static_cast<std::size_t>(threads)) ws.attention.resize(static_cast<std::size_t>(threads));
    bool const nested = omp_in_parallel() != 0;  // then parallel_for runs inline, on slot 0
    parallel_for(c.n_heads, threads, 1, [&](std::size_t begin, std::size_t end) {
      ForwardWorkspace::AttentionScratch& scratch =
          ws.attention[nested ? 0 : static_cast<std::size_t>(omp_get_thread_num())];
      Eigen::Index const score_rows = std::min(n, kRowBlock);
      scratch.scores.resize(static_cast<std::size_t>(score_rows) * longest);
      Map scores(scratch.scores.data(), score_rows, static_cast<Eigen::Index>(longest),
                 Stride(static_cast<Eigen::Index>(longest)));
      // A packed int4 store is read through this thread's dequantized copy of the current KV
      // head (each key dequantized once per thread and KV head, to the fake quantizer's exact
      // float values); a segment whose prefix is not adjacent to its rows gathers both into
      // one contiguous run.
      ForwardWorkspace::Buffer& k_deq = scratch.k_deq;
      ForwardWorkspace::Buffer& v_deq = scratch.v_deq;
      k_deq.resize(k_store.quantized() ? static_cast<std::size_t>(total * d_h) : 0);
      v_deq.resize(v_store.quantized() ? static_cast<std::size_t>(total * d_h) : 0);
      ForwardWorkspace::Buffer& k_run = scratch.k_run;
      ForwardWorkspace::Buffer& v_run = scratch.v_run;
      std::size_t deq_head = c.n_kv_heads;
      for (std::size_t head = begin; head < end; ++head) {
        std::size_t const kv_head = head / group;
        Eigen::Index const kv_col = static_cast<Eigen::Index>(kv_head) * d_h;
        Eigen::Index const q_col = static_cast<Eigen::Index>(head) * d_h;
        if (kv_head != deq_head) {
          deq_head = kv_head;
          auto const rows = static_cast<std::size_t>(total), col = static_cast<std::size_t>(kv_col);
          auto const w = static_cast<std::size_t>(d_h);
          if (k_store.quantized()) k_store.dequantize(0, rows, col, w, k_deq.data(), w);
          if (v_store.quantized()) v_store.dequantize(0, rows, col, w, v_deq.data(), w);
        }
        // Row r of this KV head's keys / values, wherever they are stored.
        auto key_rows = [&](KvStore const& store, float const* fp32, ForwardWorkspace::Buffer const& deq) {
          return store.quantized() ? std::pair(deq.data(), d_h)
                                   : std::pair(fp32 + kv_col, kv_width);
        };
        auto const [k_base, k_ld] = key_rows(k_store, cache.keys(layer), k_deq);
        auto const [v_base, v_ld] = key_rows(v_store, cache.values(layer), v_deq);
        Eigen::Index seg_row = 0;
        for (SequenceSegment const& g : segments) {
          auto const rows_n = static_cast<Eigen::Index>(g.rows);
          auto const prefix = static_cast<Eigen::Index>(g.prefix_length());
          auto const own = static_cast<Eigen::Index>(first) + seg_row;  // cache row of its first row
          // The segment's keys: prefix then own rows, contiguous in the store when adjacent.
          float const* ks = k_base + static_cast<Eigen::Index>(g.prefix_begin) * k_ld;
          float const* vs = v_base + static_cast<Eigen::Index>(g.prefix_begin) * v_ld;
          Eigen::Index kld = k_ld, vld = v_ld;
          if (static_cast<Eigen::Index>(g.prefix_end) != own) {
            auto gather = [&](float const* base, Eigen::Index ld, ForwardWorkspace::Buffer& run) {
              run.resize(static_cast<std::size_t>((prefix + rows_n) * d_h));
              Map dst(run.data(), prefix + rows_n, d_h, Stride(d_h));
              dst.topRows(prefix) = ConstMap(base + static_cast<Eigen::Index>(g.prefix_begin) * ld,
                                             prefix, d_h, Stride(ld));
              dst.bottomRows(rows_n) = ConstMap(base + own * ld, rows_n, d_h, Stride(ld));
              return run.data();
            };
            ks = gather(k_base, k_ld, k_run);
            vs = gather(v_base, v_ld, v_run);
            kld = vld = d_h;
          }
          for (Eigen::Index r0 = 0; r0 < rows_n; r0 += kRowBlock) {
            Eigen::Index const rows = std::min(kRowBlock, rows_n - r0);
            Eigen::Index const keys = prefix + r0 + rows;  // visible to the block's last row
            ConstMap qh(q.data() + (seg_row + r0) * q.cols() + q_col, rows, d_h, Stride(q.cols()));
            ConstMap const kh(ks, keys, d_h, Stride(kld));
            ConstMap const vh(vs, keys, d_h, Stride(vld));
            auto s = scores.topLeftCorner(rows, keys);
            s.noalias() = (qh * kh.transpose()) * scale;
            for (Eigen::Index t = 0; t < rows; ++t) {
              Eigen::Index const visible = prefix + r0 + t + 1;
              auto row = s.row(t);
              float const mx = row.head(visible).maxCoeff();
              // Eigen's vectorized exp: the scalar libm loop was ~7% of a 4-bit prefill.
              row.head(visible) = (row.head(visible).array() - mx).exp();
              row.head(visible) /= row.head(visible).sum();
              row.tail(keys - visible).setZero();
            }
            Map oh(out.data() + (seg_row + r0) * out.cols() + q_col, rows, d_h, Stride(out.cols()));
            oh.noalias() = s * vh;
          }
          seg_row += rows_n;
        }
      }
    });
  }

  LlamaWeights weights_;
  RopeTable rope_;
  std::shared_ptr<LinearLayers const> linears_;
  KvCacheFormat kv_format_;
};

}  // namespace dfrot::model
