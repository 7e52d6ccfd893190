// SPDX-License-Identifier: Apache-2.0
// RopeTable: rotary position embedding on adjacent pairs (2i, 2i+1), with LLaMA-3 and linear scaling.
#pragma once

#include <cmath>
#include <numbers>
#include <span>
#include <vector>

#include "dfrot/core/checked_size.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/model/model_config.hpp"

namespace dfrot::model {

/// The inverse frequencies θ^(−2i/d_h), i < d_h/2, after the config's RoPE scaling, each divided
/// by `freq_factors[i]` when given (GGUF `rope_freqs`, how llama.cpp stores LLaMA-3.1 scaling).
inline std::vector<double> rope_inverse_frequencies(ModelConfig const& c,
                                                    std::span<float const> freq_factors = {}) {
  DFROT_THROW_IF(!freq_factors.empty() && freq_factors.size() != c.head_dim / 2, ShapeError,
                 "rope: ", freq_factors.size(), " frequency factors for head dim ", c.head_dim,
                 " (expected ", c.head_dim / 2, ")");
  std::size_t const half = c.head_dim / 2;
  std::vector<double> inv(half);
  for (std::size_t i = 0; i < half; ++i) {
    double f = std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim));
    if (c.rope_scaling == io::RopeScalingType::kLinear) {
      f /= c.rope_factor;
    } else if (c.rope_scaling == io::RopeScalingType::kLlama3) {
      // LLaMA-3.1: keep high frequencies, divide low ones by the factor, blend in between.
      double const old_ctx = static_cast<double>(c.rope_original_max_pos);
      double const low_wavelen = old_ctx / c.rope_low_freq_factor;
      double const high_wavelen = old_ctx / c.rope_high_freq_factor;
      double const wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_wavelen) {
        f /= c.rope_factor;
      } else if (wavelen >= high_wavelen) {
        double const smooth = (old_ctx / wavelen - c.rope_low_freq_factor) /
                              (c.rope_high_freq_factor - c.rope_low_freq_factor);
        f = (1.0 - smooth) * f / c.rope_factor + smooth * f;
      }
    }
    if (!freq_factors.empty()) f /= static_cast<double>(freq_factors[i]);
    inv[i] = f;
  }
  return inv;
}

/// cos/sin of position·frequency for positions [0, n_positions), computed in float64.
class RopeTable {
 public:
  /// \throws UsageError when n_positions exceeds kMaxPositions.
  RopeTable(ModelConfig const& c, std::size_t n_positions, std::span<float const> freq_factors = {})
      : half_(c.head_dim / 2),
        cos_(checked_mul(checked_positions(n_positions), half_, "rope table")),
        sin_(cos_.size()) {
    std::vector<double> const inv = rope_inverse_frequencies(c, freq_factors);
    for (std::size_t p = 0; p < n_positions; ++p) {
      for (std::size_t i = 0; i < half_; ++i) {
        double const angle = static_cast<double>(p) * inv[i];
        cos_[p * half_ + i] = static_cast<float>(std::cos(angle));
        sin_[p * half_ + i] = static_cast<float>(std::sin(angle));
      }
    }
  }

  static std::size_t checked_positions(std::size_t n) {
    DFROT_THROW_IF(n > kMaxPositions, UsageError, "context of ", n, " positions exceeds the limit of ",
                   kMaxPositions);
    return n;
  }
  std::size_t positions() const { return cos_.size() / std::max<std::size_t>(half_, 1); }

  /// Rotates every head of every row in place; row t has position first_position + t.
  /// x is [tokens, n_heads·d_h].
  void apply(MatrixView<float> x, std::size_t first_position) const {
    std::size_t const d_h = 2 * half_;
    DFROT_THROW_IF(x.cols() % d_h != 0, ShapeError, "rope: row width ", x.cols(),
                   " is not a multiple of the head dim ", d_h);
    DFROT_THROW_IF(first_position + x.rows() > positions(), ShapeError, "rope: position ",
                   first_position + x.rows(), " exceeds the table of ", positions());
    for (std::size_t t = 0; t < x.rows(); ++t) {
      float const* c = cos_.data() + (first_position + t) * half_;
      float const* s = sin_.data() + (first_position + t) * half_;
      float* row = x.row(t);
      for (std::size_t h = 0; h < x.cols(); h += d_h) {
        for (std::size_t i = 0; i < half_; ++i) {
          float const a = row[h + 2 * i], b = row[h + 2 * i + 1];
          row[h + 2 * i] = a * c[i] - b * s[i];
          row[h + 2 * i + 1] = a * s[i] + b * c[i];
        }
      }
    }
  }

 private:
  std::size_t half_;
  std::vector<float> cos_, sin_;
};

}  // namespace dfrot::model
