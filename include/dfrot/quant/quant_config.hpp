// SPDX-License-Identifier: Apache-2.0
// QuantConfig: bits, symmetry, granularity and clip ratio of a quantizer, with validation.
#pragma once

#include <cmath>
#include <cstddef>
#include <string_view>

#include "dfrot/core/error.hpp"

namespace dfrot::quant {

/// kSym: codes in [−2^(b−1), 2^(b−1)−1], scale = absmax/(2^(b−1)−1), no zero point.
/// kAsym: codes in [0, 2^b−1] with an integer zero point (ALGORITHMS.md §3.1).
enum class Symmetry { kSym, kAsym };

/// Which elements share one (scale, zero): the whole tensor, one row (a token for activations, an
/// output channel for weights [out × in]), or groups of `group_size` consecutive columns of a row.
enum class Granularity { kPerTensor, kPerRow, kPerGroup };

constexpr std::string_view to_string(Symmetry s) { return s == Symmetry::kSym ? "sym" : "asym"; }

constexpr std::string_view to_string(Granularity g) {
  switch (g) {
    case Granularity::kPerTensor:
      return "per-tensor";
    case Granularity::kPerRow:
      return "per-row";
    case Granularity::kPerGroup:
      return "per-group";
  }
  return "unknown";
}

inline constexpr int kMinBits = 2;
inline constexpr int kMaxBits = 8;

/// Settings of one quantizer. Defaults: 4-bit symmetric per row, no clipping.
struct QuantConfig {
  int bits = 4;                        ///< 2 … 8
  Symmetry symmetry = Symmetry::kSym;  ///< sym or asym grid
  Granularity granularity = Granularity::kPerRow;
  std::size_t group_size = 0;  ///< columns per group (kPerGroup only, > 0)
  float clip_ratio = 1.0f;     ///< range multiplier c, 0 < c ≤ 1
};

/// Settings of the MSE clipping search of weight RTN (`--w-clip`, ALGORITHMS.md §3.2). Candidate
/// i = 0 … int(max_shrink·grid)−1 shrinks the range by p = 1 − i/grid and is kept when its error
/// Σ|Q(w)−w|^norm is strictly smaller than the best so far. Defaults are the reference code's.
struct ClipSearchConfig {
  bool enabled = false;
  int grid = 100;
  double max_shrink = 0.8;
  double norm = 2.4;
};

/// Throws UsageError when `cfg` is out of range. `where` names the caller in the message.
inline void validate(QuantConfig const& cfg, std::string_view where) {
  DFROT_THROW_IF(cfg.bits < kMinBits || cfg.bits > kMaxBits, UsageError, where, ": bits ", cfg.bits,
                 ": expected ", kMinBits, " ... ", kMaxBits);
  DFROT_THROW_IF(!(cfg.clip_ratio > 0.0f && cfg.clip_ratio <= 1.0f), UsageError, where,
                 ": clip ratio ", cfg.clip_ratio, ": expected 0 < c <= 1");
  DFROT_THROW_IF(cfg.granularity == Granularity::kPerGroup && cfg.group_size == 0, UsageError,
                 where, ": per-group quantization needs a group size > 0");
}

/// Throws UsageError when `cfg` is out of range.
inline void validate(ClipSearchConfig const& cfg, std::string_view where) {
  if (!cfg.enabled) return;
  DFROT_THROW_IF(cfg.grid <= 0, UsageError, where, ": clip search grid ", cfg.grid,
                 ": expected > 0");
  DFROT_THROW_IF(!(cfg.max_shrink > 0.0 && cfg.max_shrink <= 1.0), UsageError, where,
                 ": clip search max shrink ", cfg.max_shrink, ": expected 0 < s <= 1");
  DFROT_THROW_IF(!(cfg.norm > 0.0 && std::isfinite(cfg.norm)), UsageError, where,
                 ": clip search norm ", cfg.norm, ": expected a finite value > 0");
}

/// Columns per (scale, zero) group for a matrix with `n_cols` columns: n_cols for per-row and
/// per-tensor, group_size for per-group. \throws ShapeError when group_size does not divide n_cols.
inline std::size_t group_columns(QuantConfig const& cfg, std::size_t n_cols,
                                 std::string_view where) {
  if (cfg.granularity != Granularity::kPerGroup) return n_cols;
  DFROT_THROW_IF(cfg.group_size == 0 || n_cols % cfg.group_size != 0, ShapeError, where,
                 ": group size ", cfg.group_size, " does not divide the row length ", n_cols,
                 " (groups must tile each row exactly)");
  return cfg.group_size;
}

}  // namespace dfrot::quant
