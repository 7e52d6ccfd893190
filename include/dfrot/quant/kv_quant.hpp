// SPDX-License-Identifier: Apache-2.0
// KV-cache quantization: per (token, KV head) groups, GQA-correct, asym with clip ratio by default.
#pragma once

#include <cstddef>
#include <string_view>

#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/quant/activation_quant.hpp"
#include "dfrot/quant/quant_config.hpp"
#include "dfrot/quant/quantized_tensor.hpp"

namespace dfrot::quant {

/// Settings of a K or V cache quantizer (ALGORITHMS.md §3.5). Defaults are the papers' W4A4KV4
/// settings: 4-bit asymmetric, one group per (token, head) of head_dim values, clip 0.95.
///
/// Layout: keys/values are a matrix [n_tokens × n_kv_heads·head_dim], one token per row, heads
/// contiguous inside the row — **the KV heads, not the query heads**. With per_head each group is
/// one (token, head) vector; without, one group is the whole token row of n_kv_heads·head_dim
/// values. Groups never span two tokens.
///
/// The reference QuaRot/DFRot code reshapes keys to rows of hidden_size = n_heads·head_dim for the
/// token-wise K quantizer. Under grouped-query attention (n_kv_heads < n_heads, e.g. LLaMA-3-8B:
/// 32 query heads, 8 KV heads) one such "row" holds n_heads/n_kv_heads consecutive tokens, so their
/// keys share one scale — a bug (SpinQuant uses n_kv_heads·head_dim, as we do). Passing rows of
/// another width is therefore a ShapeError here, not a silent regrouping.
struct KvQuantConfig {
  int bits = 4;
  Symmetry symmetry = Symmetry::kAsym;
  float clip_ratio = 0.95f;
  std::size_t n_kv_heads = 0;
  std::size_t head_dim = 0;
  bool per_head = true;  ///< groups of head_dim (paper: 128); false = one group per token
};

namespace detail {
inline QuantConfig kv_to_quant_config(KvQuantConfig const& kv, std::size_t n_cols,
                                      std::string_view where) {
  DFROT_THROW_IF(kv.n_kv_heads == 0 || kv.head_dim == 0, UsageError, where,
                 ": n_kv_heads and head_dim must be > 0");
  DFROT_THROW_IF(
      n_cols != kv.n_kv_heads * kv.head_dim, ShapeError, where, ": rows have ", n_cols,
      " values, expected n_kv_heads*head_dim = ", kv.n_kv_heads, "*", kv.head_dim, " = ",
      kv.n_kv_heads * kv.head_dim,
      " (one token per row; do not reshape to n_heads*head_dim, which mixes tokens under "
      "GQA)");
  QuantConfig q;
  q.bits = kv.bits;
  q.symmetry = kv.symmetry;
  q.clip_ratio = kv.clip_ratio;
  q.granularity = kv.per_head ? Granularity::kPerGroup : Granularity::kPerRow;
  q.group_size = kv.head_dim;
  return q;
}
}  // namespace detail

/// Fake-quantizes keys or values kv [n_tokens × n_kv_heads·head_dim] (any row stride) into out.
/// Per (token, head) groups use the per-group rule of §3.4 (range not forced to contain 0);
/// per-token groups force 0 into the range. May run in place.
/// \throws UsageError (config), ShapeError (row width ≠ n_kv_heads·head_dim), NumericError (NaN).
inline void fake_quantize_kv(MatrixView<float const> kv, MatrixView<float> out,
                             KvQuantConfig const& cfg, int n_threads = 1) {
  fake_quantize_activations(kv, out, detail::kv_to_quant_config(cfg, kv.cols(), "fake_quantize_kv"),
                            n_threads);
}

/// Quantize + pack keys or values (codes + one (scale, zero) per group), reusing `out`'s storage.
/// \throws as fake_quantize_kv.
inline void quantize_kv_into(MatrixView<float const> kv, KvQuantConfig const& cfg,
                             QuantizedTensor& out, int n_threads = 1) {
  quantize_activations_into(kv, detail::kv_to_quant_config(cfg, kv.cols(), "quantize_kv"), out,
                            n_threads);
}

/// Quantize + pack keys or values into a new tensor.
inline QuantizedTensor quantize_kv(MatrixView<float const> kv, KvQuantConfig const& cfg,
                                   int n_threads = 1) {
  QuantizedTensor out;
  quantize_kv_into(kv, cfg, out, n_threads);
  return out;
}

}  // namespace dfrot::quant
