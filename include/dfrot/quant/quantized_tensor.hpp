// SPDX-License-Identifier: Apache-2.0
// QuantizedTensor: integer codes (packed int4 for ≤ 4 bits) + per-group scales and zero points.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/quant/grid.hpp"
#include "dfrot/quant/int4_pack.hpp"
#include "dfrot/quant/quant_config.hpp"

namespace dfrot::quant {

/// A real-quantized matrix [n_rows × n_cols].
///
/// Codes: for bits ≤ 4 in the packed int4 layout of int4_pack.hpp (⌈n_cols/2⌉ bytes per row);
/// for 5–8 bits one byte per code (sym: int8 two's complement, asym: uint8). Parameters: row r,
/// column c uses group g = group_of(c) and `scales[r·n_groups + g]` (and `zeros[…]` for asym,
/// integer-valued floats; empty for sym); x̂ = scale·(q − zero). Groups are contiguous runs of
/// `group_size` columns unless `group_index` (one entry per column) is set — GPTQ with act-order
/// and dynamic groups. Per-tensor quantization stores one group per row with equal parameters.
struct QuantizedTensor {
  int bits = 4;
  Symmetry symmetry = Symmetry::kSym;
  std::size_t n_rows = 0;
  std::size_t n_cols = 0;
  std::size_t group_size = 0;              ///< columns per group (contiguous groups)
  std::size_t n_groups = 0;                ///< groups per row
  std::vector<std::uint8_t> data;          ///< codes, row_bytes() per row
  std::vector<float> scales;               ///< [n_rows × n_groups]
  std::vector<float> zeros;                ///< [n_rows × n_groups], asym only
  std::vector<std::uint32_t> group_index;  ///< optional column → group map

  /// Allocates storage for the given shape (codes zero, scales one, zeros zero).
  static QuantizedTensor allocate(int bits, Symmetry symmetry, std::size_t n_rows,
                                  std::size_t n_cols, std::size_t group_size) {
    QuantizedTensor t;
    t.bits = bits;
    t.symmetry = symmetry;
    t.n_rows = n_rows;
    t.n_cols = n_cols;
    t.group_size = group_size;
    t.n_groups = group_size == 0 ? 0 : (n_cols + group_size - 1) / group_size;
    t.data.assign(n_rows * t.row_bytes(), 0);
    t.scales.assign(n_rows * t.n_groups, 1.0f);
    if (symmetry == Symmetry::kAsym) t.zeros.assign(n_rows * t.n_groups, 0.0f);
    return t;
  }

  bool packed() const { return bits <= 4; }
  std::size_t row_bytes() const { return packed() ? packed_row_bytes(n_cols) : n_cols; }
  std::size_t group_of(std::size_t c) const {
    return group_index.empty() ? c / group_size : group_index[c];
  }

  /// The code of element (r, c).
  int code(std::size_t r, std::size_t c) const {
    std::uint8_t const* row = data.data() + r * row_bytes();
    bool const is_signed = symmetry == Symmetry::kSym;
    if (packed()) {
      return is_signed ? unpack_signed_nibble(row[c / 2], (c & 1) != 0)
                       : unpack_unsigned_nibble(row[c / 2], (c & 1) != 0);
    }
    return is_signed ? static_cast<int>(static_cast<std::int8_t>(row[c]))
                     : static_cast<int>(row[c]);
  }

  /// Stores the code of element (r, c).
  void set_code(std::size_t r, std::size_t c, int q) {
    std::uint8_t* row = data.data() + r * row_bytes();
    if (packed()) {
      std::uint8_t& b = row[c / 2];
      unsigned const nib = static_cast<unsigned>(q) & 0xFu;
      b = (c & 1) != 0 ? static_cast<std::uint8_t>((b & 0x0Fu) | (nib << 4))
                       : static_cast<std::uint8_t>((b & 0xF0u) | nib);
    } else {
      row[c] = static_cast<std::uint8_t>(static_cast<unsigned>(q) & 0xFFu);
    }
  }

  QuantParams<float> params(std::size_t r, std::size_t c) const {
    std::size_t const i = r * n_groups + group_of(c);
    return {scales[i], zeros.empty() ? 0.0f : zeros[i]};
  }

  /// Dequantized value of element (r, c).
  float value(std::size_t r, std::size_t c) const {
    return dequantize_code(static_cast<float>(code(r, c)), params(r, c),
                           make_grid<float>(bits, symmetry));
  }
};

/// Writes scale·(q − zero) of every element into `out` [n_rows × n_cols].
/// \throws ShapeError on a shape mismatch.
inline void dequantize(QuantizedTensor const& t, MatrixView<float> out) {
  DFROT_THROW_IF(out.rows() != t.n_rows || out.cols() != t.n_cols, ShapeError,
                 "dequantize: tensor is ", t.n_rows, "x", t.n_cols, " but the output is ",
                 out.rows(), "x", out.cols());
  for (std::size_t r = 0; r < t.n_rows; ++r) {
    for (std::size_t c = 0; c < t.n_cols; ++c) out(r, c) = t.value(r, c);
  }
}

}  // namespace dfrot::quant
