// SPDX-License-Identifier: Apache-2.0
// KvCache: per-layer keys (after RoPE and any online transform) and values of past positions.
#pragma once

#include <cstddef>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/model/model_config.hpp"

namespace dfrot::model {

/// Stores K and V as [positions, n_kv·d_h] float rows per layer. What is stored is exactly what
/// attention reads, so a quantizing hook that rewrites K/V before storage models a KV4 cache.
class KvCache {
 public:
  KvCache(ModelConfig const& c, std::size_t max_positions)
      : width_(c.n_kv_heads * c.head_dim), max_positions_(max_positions),
        k_(c.n_layers, std::vector<float>(max_positions * width_)),
        v_(c.n_layers, std::vector<float>(max_positions * width_)) {}

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return max_positions_; }
  std::size_t width() const { return width_; }
  void clear() { size_ = 0; }

  /// Writes rows for positions [size, size + k.rows()) of `layer`.
  void store(std::size_t layer, MatrixView<float const> k, MatrixView<float const> v) {
    DFROT_THROW_IF(size_ + k.rows() > max_positions_, ShapeError, "kv cache: ", size_ + k.rows(),
                   " positions exceed its capacity of ", max_positions_);
    for (std::size_t t = 0; t < k.rows(); ++t) {
      std::copy(k.row(t), k.row(t) + width_, k_[layer].data() + (size_ + t) * width_);
      std::copy(v.row(t), v.row(t) + width_, v_[layer].data() + (size_ + t) * width_);
    }
  }
  /// Advances the length after every layer has stored `n` new positions.
  void commit(std::size_t n) { size_ += n; }

  float const* keys(std::size_t layer) const { return k_[layer].data(); }
  float const* values(std::size_t layer) const { return v_[layer].data(); }

 private:
  std::size_t width_;
  std::size_t max_positions_;
  std::size_t size_ = 0;
  std::vector<std::vector<float>> k_, v_;
};

}  // namespace dfrot::model
