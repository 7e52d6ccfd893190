// SPDX-License-Identifier: Apache-2.0
// Packed int4 layout (two codes per byte) with pack/unpack of single bytes and whole rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"

namespace dfrot::quant {

/// \file
/// **Packed int4 layout** (the format the GEMM and KV-cache kernels consume; the same as QuaRot's
/// CUDA `sym_quant`): a row of n codes occupies ⌈n/2⌉ bytes. Byte j holds column 2j in its **low
/// nibble** (bits 0–3) and column 2j+1 in its **high nibble** (bits 4–7). When n is odd the last
/// high nibble is 0. Rows of a matrix are independent (a row never shares a byte with the next one)
/// and may be padded to any row stride.
///
/// Code encoding inside a nibble:
/// - symmetric codes q ∈ [−8, 7] are stored as 4-bit **two's complement** (−1 → 0xF, −8 → 0x8);
/// - asymmetric codes q ∈ [0, 15] are stored as plain unsigned nibbles.
/// Grids with fewer bits (2, 3) use the same nibble encoding with a smaller range.

/// Bytes of one packed row of `n_cols` codes.
constexpr std::size_t packed_row_bytes(std::size_t n_cols) { return (n_cols + 1) / 2; }

/// One byte from two codes (any int; only the low 4 bits are kept, which is two's complement for
/// negative codes).
constexpr std::uint8_t pack_nibbles(int low, int high) {
  return static_cast<std::uint8_t>((static_cast<unsigned>(low) & 0xFu) |
                                   ((static_cast<unsigned>(high) & 0xFu) << 4));
}

/// The low (even column) or high (odd column) nibble of `byte` as a signed code in [−8, 7].
constexpr int unpack_signed_nibble(std::uint8_t byte, bool high) {
  int const v = high ? (byte >> 4) : (byte & 0xF);
  return v >= 8 ? v - 16 : v;
}

/// The low or high nibble of `byte` as an unsigned code in [0, 15].
constexpr int unpack_unsigned_nibble(std::uint8_t byte, bool high) {
  return high ? (byte >> 4) : (byte & 0xF);
}

/// Packs one row of codes (each in [−8, 15]; signed ones become two's complement nibbles).
/// \throws ShapeError when `packed` is shorter than packed_row_bytes(codes.size()).
inline void pack_int4_row(std::span<std::int8_t const> codes, std::span<std::uint8_t> packed) {
  std::size_t const n = codes.size();
  DFROT_THROW_IF(packed.size() < packed_row_bytes(n), ShapeError, "pack_int4_row: ", n,
                 " codes need ", packed_row_bytes(n), " bytes, got ", packed.size());
  std::size_t j = 0;
  for (; j + 1 < n; j += 2) packed[j / 2] = pack_nibbles(codes[j], codes[j + 1]);
  if (j < n) packed[j / 2] = pack_nibbles(codes[j], 0);
}

/// Unpacks one row; `is_signed` selects two's complement (sym) or unsigned (asym) nibbles.
/// \throws ShapeError when `packed` is shorter than packed_row_bytes(codes.size()).
inline void unpack_int4_row(std::span<std::uint8_t const> packed, std::span<std::int8_t> codes,
                            bool is_signed) {
  std::size_t const n = codes.size();
  DFROT_THROW_IF(packed.size() < packed_row_bytes(n), ShapeError, "unpack_int4_row: ", n,
                 " codes need ", packed_row_bytes(n), " bytes, got ", packed.size());
  for (std::size_t j = 0; j < n; ++j) {
    bool const high = (j & 1) != 0;
    int const v = is_signed ? unpack_signed_nibble(packed[j / 2], high)
                            : unpack_unsigned_nibble(packed[j / 2], high);
    codes[j] = static_cast<std::int8_t>(v);
  }
}

/// Packs a codes matrix [rows × n] into `packed` [rows × ≥⌈n/2⌉] (row strides may differ).
/// \throws ShapeError on a row-count or width mismatch.
inline void pack_int4(MatrixView<std::int8_t const> codes, MatrixView<std::uint8_t> packed) {
  DFROT_THROW_IF(packed.rows() != codes.rows() || packed.cols() < packed_row_bytes(codes.cols()),
                 ShapeError, "pack_int4: codes ", codes.rows(), "x", codes.cols(), " need packed ",
                 codes.rows(), "x", packed_row_bytes(codes.cols()), ", got ", packed.rows(), "x",
                 packed.cols());
  for (std::size_t r = 0; r < codes.rows(); ++r) {
    pack_int4_row({codes.row(r), codes.cols()}, {packed.row(r), packed.cols()});
  }
}

/// Unpacks `packed` [rows × ≥⌈n/2⌉] into `codes` [rows × n].
/// \throws ShapeError on a row-count or width mismatch.
inline void unpack_int4(MatrixView<std::uint8_t const> packed, MatrixView<std::int8_t> codes,
                        bool is_signed) {
  DFROT_THROW_IF(packed.rows() != codes.rows() || packed.cols() < packed_row_bytes(codes.cols()),
                 ShapeError, "unpack_int4: codes ", codes.rows(), "x", codes.cols(),
                 " need packed ", codes.rows(), "x", packed_row_bytes(codes.cols()), ", got ",
                 packed.rows(), "x", packed.cols());
  for (std::size_t r = 0; r < codes.rows(); ++r) {
    unpack_int4_row({packed.row(r), packed.cols()}, {codes.row(r), codes.cols()}, is_signed);
  }
}

}  // namespace dfrot::quant
