// SPDX-License-Identifier: Apache-2.0
// KvCache: per-layer keys (after RoPE and any online transform) and values of past positions, in
// FP32 or as packed int4 codes with one (scale, zero) per (token, KV head) — QuaRot's KV4 cache.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dfrot/core/checked_size.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/model/model_config.hpp"
#include "dfrot/quant/int4_pack.hpp"
#include "dfrot/quant/kv_quant.hpp"
#include "dfrot/quant/quantized_tensor.hpp"

namespace dfrot::model {

/// How K and V are stored, per layer: a quantizer with bits ≤ 4 stores packed int4 codes
/// (int4_pack.hpp layout, heads contiguous in a token row) plus float scale and zero per group;
/// bits = 16 (or an empty vector) stores FP32. The quantizers are applied on store, with the same
/// kernel as the fake quantizer, so attention over this cache sees exactly the fake path's values.
struct KvCacheFormat {
  std::vector<quant::KvQuantConfig> keys;    ///< [n_layers] or empty (FP32)
  std::vector<quant::KvQuantConfig> values;  ///< [n_layers] or empty (FP32)
};

/// One layer's K or V of every position: FP32 rows, or int4 codes + per-group parameters.
class KvStore {
 public:
  KvStore() = default;
  KvStore(std::size_t width, std::size_t max_positions, quant::KvQuantConfig const* q)
      : width_(width) {
    if (q != nullptr && q->bits < 16) {
      cfg_ = *q;
      quantized_ = true;
      n_groups_ = cfg_.per_head ? cfg_.n_kv_heads : 1;
      codes_.assign(checked_mul(max_positions, quant::packed_row_bytes(width), "kv cache"), 0);
      scales_.assign(checked_mul(max_positions, n_groups_, "kv cache"), 0.0f);
      zeros_.assign(scales_.size(), 0.0f);
    } else {
      values_.assign(checked_mul(max_positions, width, "kv cache"), 0.0f);
    }
  }

  bool quantized() const { return quantized_; }
  quant::KvQuantConfig const& config() const { return cfg_; }
  std::size_t width() const { return width_; }
  std::size_t n_groups() const { return n_groups_; }
  std::size_t row_bytes() const { return quant::packed_row_bytes(width_); }
  bool is_signed() const { return cfg_.symmetry == quant::Symmetry::kSym; }

  /// FP32 rows [positions × width] (unquantized stores only).
  float const* values() const { return values_.data(); }
  /// Packed codes of position t; scale/zero of (t, group).
  std::uint8_t const* codes(std::size_t t) const { return codes_.data() + t * row_bytes(); }
  float scale(std::size_t t, std::size_t g) const { return scales_[t * n_groups_ + g]; }
  float zero(std::size_t t, std::size_t g) const { return zeros_[t * n_groups_ + g]; }
  /// The group of KV head h.
  std::size_t group_of_head(std::size_t h) const { return cfg_.per_head ? h : 0; }

  /// Bytes one position occupies.
  std::size_t bytes_per_position() const {
    return quantized_ ? row_bytes() + 2 * n_groups_ * sizeof(float) : width_ * sizeof(float);
  }

  /// Writes rows x [n × width] at positions [first, first + n).
  void store(std::size_t first, MatrixView<float const> x, int n_threads) {
    if (!quantized_) {
      for (std::size_t t = 0; t < x.rows(); ++t)
        std::copy(x.row(t), x.row(t) + width_, values_.data() + (first + t) * width_);
      return;
    }
    quant::quantize_kv_into(x, cfg_, scratch_, n_threads);
    std::size_t const rb = row_bytes();
    std::copy(scratch_.data.begin(), scratch_.data.begin() + static_cast<std::ptrdiff_t>(x.rows() * rb),
              codes_.begin() + static_cast<std::ptrdiff_t>(first * rb));
    std::copy(scratch_.scales.begin(), scratch_.scales.end(),
              scales_.begin() + static_cast<std::ptrdiff_t>(first * n_groups_));
    if (!scratch_.zeros.empty()) {
      std::copy(scratch_.zeros.begin(), scratch_.zeros.end(),
                zeros_.begin() + static_cast<std::ptrdiff_t>(first * n_groups_));
    }
  }

  /// Dequantizes columns [col, col + n_cols) of positions [t0, t0 + n_rows) into out (row stride
  /// `ld`): scale·(q − zero), the fake quantizer's exact float values. `col` and n_cols are whole
  /// heads (even).
  void dequantize(std::size_t t0, std::size_t n_rows, std::size_t col, std::size_t n_cols,
                  float* out, std::size_t ld) const {
    std::size_t const head_dim = cfg_.head_dim;
    bool const sym = is_signed();
    for (std::size_t r = 0; r < n_rows; ++r) {
      std::uint8_t const* c = codes(t0 + r) + col / 2;
      std::size_t const g = group_of_head(col / head_dim);
      float const s = scale(t0 + r, g), z = zero(t0 + r, g);
      float* o = out + r * ld;
      if (sym) {
        for (std::size_t j = 0; j < n_cols / 2; ++j) {
          auto const b = static_cast<std::int8_t>(c[j]);
          // Arithmetic shifts sign-extend each nibble: (b << 4) >> 4 is the low one.
          auto const lo = static_cast<std::int8_t>(static_cast<std::int8_t>(b * 16) / 16);
          auto const hi = static_cast<std::int8_t>(b >> 4);
          o[2 * j] = s * static_cast<float>(lo);
          o[2 * j + 1] = s * static_cast<float>(hi);
        }
      } else {
        for (std::size_t j = 0; j < n_cols / 2; ++j) {
          o[2 * j] = s * (static_cast<float>(c[j] & 0xF) - z);
          o[2 * j + 1] = s * (static_cast<float>(c[j] >> 4) - z);
        }
      }
    }
  }

 private:
  std::size_t width_ = 0;
  bool quantized_ = false;
  quant::KvQuantConfig cfg_{};
  std::size_t n_groups_ = 0;
  std::vector<float> values_;
  std::vector<std::uint8_t> codes_;
  std::vector<float> scales_, zeros_;
  quant::QuantizedTensor scratch_;
};

/// K and V of every layer for up to `capacity()` positions. What is stored is exactly what
/// attention reads.
class KvCache {
 public:
  KvCache(ModelConfig const& c, std::size_t max_positions, KvCacheFormat const& format = {})
      : width_(c.n_kv_heads * c.head_dim), max_positions_(max_positions) {
    DFROT_THROW_IF(!format.keys.empty() && format.keys.size() != c.n_layers, ShapeError,
                   "kv cache: key format for ", format.keys.size(), " layers, the model has ",
                   c.n_layers);
    DFROT_THROW_IF(!format.values.empty() && format.values.size() != c.n_layers, ShapeError,
                   "kv cache: value format for ", format.values.size(), " layers, the model has ",
                   c.n_layers);
    auto checked = [&](std::vector<quant::KvQuantConfig> const& v, std::size_t l,
                       char const* what) -> quant::KvQuantConfig const* {
      if (v.empty() || v[l].bits >= 16) return nullptr;
      quant::KvQuantConfig const& q = v[l];
      DFROT_THROW_IF(q.bits > 4, UsageError, "kv cache: ", what, " of layer ", l, " are ", q.bits,
                     "-bit; the packed cache stores 2-4 bits (or 16 = FP32)");
      DFROT_THROW_IF(q.n_kv_heads != c.n_kv_heads || q.head_dim != c.head_dim || c.head_dim % 2,
                     ShapeError, "kv cache: ", what, " quantizer is set for ", q.n_kv_heads, "x",
                     q.head_dim, " heads, the model has ", c.n_kv_heads, "x", c.head_dim);
      return &q;
    };
    k_.reserve(c.n_layers);
    v_.reserve(c.n_layers);
    for (std::size_t l = 0; l < c.n_layers; ++l) {
      k_.emplace_back(width_, max_positions, checked(format.keys, l, "keys"));
      v_.emplace_back(width_, max_positions, checked(format.values, l, "values"));
    }
  }

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return max_positions_; }
  std::size_t width() const { return width_; }
  void clear() { size_ = 0; }

  /// Writes rows for positions [size, size + k.rows()) of `layer` (quantizing when the format
  /// says so).
  void store(std::size_t layer, MatrixView<float const> k, MatrixView<float const> v,
             int n_threads = 1) {
    DFROT_THROW_IF(size_ + k.rows() > max_positions_, ShapeError, "kv cache: ", size_ + k.rows(),
                   " positions exceed its capacity of ", max_positions_);
    k_[layer].store(size_, k, n_threads);
    v_[layer].store(size_, v, n_threads);
  }
  /// Advances the length after every layer has stored `n` new positions.
  void commit(std::size_t n) { size_ += n; }

  KvStore const& keys_of(std::size_t layer) const { return k_[layer]; }
  KvStore const& values_of(std::size_t layer) const { return v_[layer]; }
  /// FP32 rows of an unquantized layer.
  float const* keys(std::size_t layer) const { return k_[layer].values(); }
  float const* values(std::size_t layer) const { return v_[layer].values(); }

  /// Bytes one position takes over all layers (K + V), and what FP32 would take.
  std::size_t bytes_per_position() const {
    std::size_t b = 0;
    for (std::size_t l = 0; l < k_.size(); ++l) b += k_[l].bytes_per_position() + v_[l].bytes_per_position();
    return b;
  }
  std::size_t fp32_bytes_per_position() const { return 2 * k_.size() * width_ * sizeof(float); }

 private:
  std::size_t width_;
  std::size_t max_positions_;
  std::size_t size_ = 0;
  std::vector<KvStore> k_, v_;
};

}  // namespace dfrot::model
