// SPDX-License-Identifier: Apache-2.0
// PackedInt4Weights: int4 weights of one linear layer in the panel layout the integer GEMM
// kernels read directly (from memory or from a mapped model file), with per-channel scales and
// the row sums of the integer zero-point correction.
#pragma once

#include <cmath>
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "dfrot/core/aligned_buffer.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/quant/quantized_tensor.hpp"

namespace dfrot::gemm {

/// \file
/// **Panel layout** (ISA-independent: AVX-512 VNNI reads one 64-byte block per instruction pair,
/// AVX2 reads it as two 32-byte halves, the scalar reference decodes it nibble by nibble).
///
/// A weight W [n_out × n_in] of symmetric 4-bit codes w ∈ [−8, 7] is stored as offset-binary
/// nibbles u = w + 8 ∈ [0, 15], so that the kernels can use them as the *unsigned* operand of
/// `vpdpbusd` / `vpmaddubsw` and the activations (int8 codes) as the signed one.
/// - Output channels are grouped in **panels** of 16 (n_out is padded with zero-weight channels,
///   u = 8, to n_panels·16).
/// - Columns are grouped in **octets** of 8 (n_in is padded with zero weights to k_pad, a multiple
///   of 8).
/// - Panel p is `k_pad/8` blocks of 64 bytes, one per octet j. Byte 4·c + b of block j (c = channel
///   in the panel, b ∈ [0, 4)) holds u(W[16p + c, 8j + b]) in its low nibble and
///   u(W[16p + c, 8j + 4 + b]) in its high nibble. A block's low nibbles are therefore the
///   VNNI-ordered 16×4 operand of columns 8j..8j+3, its high nibbles that of 8j+4..8j+7.
/// - `scales[o]` (float, n_out_pad entries; padding 0) and `row_sums[o] = Σ_k W[o, k]` (int32)
///   follow the codes.
/// One panel is k_pad·8 bytes: the packed codes take exactly n_out_pad·k_pad/2 bytes, the same as
/// the row-major int4 layout of int4_pack.hpp.

inline constexpr std::size_t kPanelRows = 16;
inline constexpr std::size_t kOctet = 8;
inline constexpr std::size_t kBlockBytes = 64;

constexpr std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }

/// Read-only int4 weights in the panel layout. Owns its storage, or views memory kept alive by
/// `keep_alive` (a mapped file) without copying it.
class PackedInt4Weights {
 public:
  PackedInt4Weights() = default;

  std::size_t n_out() const { return n_out_; }
  std::size_t n_in() const { return n_in_; }
  std::size_t n_out_pad() const { return round_up(n_out_, kPanelRows); }
  std::size_t k_pad() const { return round_up(n_in_, kOctet); }
  std::size_t n_panels() const { return n_out_pad() / kPanelRows; }
  std::size_t panel_bytes() const { return k_pad() / kOctet * kBlockBytes; }
  std::size_t code_bytes() const { return n_panels() * panel_bytes(); }
  bool empty() const { return n_out_ == 0; }

  std::uint8_t const* panel(std::size_t p) const { return codes_ + p * panel_bytes(); }
  std::uint8_t const* codes() const { return codes_; }
  float const* scales() const { return scales_; }
  std::int32_t const* row_sums() const { return row_sums_; }

  /// The signed code W[o, k] (0 in the padding), decoded from the layout (reference and tests).
  int code(std::size_t o, std::size_t k) const {
    std::size_t const p = o / kPanelRows, c = o % kPanelRows, j = k / kOctet, r = k % kOctet;
    std::uint8_t const byte = panel(p)[j * kBlockBytes + 4 * c + (r & 3)];
    return static_cast<int>(r < 4 ? (byte & 0xF) : (byte >> 4)) - 8;
  }

  /// Packs symmetric 4-bit per-output-channel weights (the RTN / GPTQ result of a linear).
  /// \throws UsageError for other quantizers (asym, > 4 bits, groups), ShapeError when empty.
  static PackedInt4Weights from_quantized(quant::QuantizedTensor const& q, std::string_view name) {
    DFROT_THROW_IF(q.n_rows == 0 || q.n_cols == 0, ShapeError, "packed weights '", name,
                   "': empty ", q.n_rows, "x", q.n_cols, " tensor");
    DFROT_THROW_IF(q.bits > 4 || q.symmetry != quant::Symmetry::kSym, UsageError,
                   "packed weights '", name, "': the integer kernels take symmetric <= 4-bit "
                   "weights, got ", q.bits, "-bit ", quant::to_string(q.symmetry));
    DFROT_THROW_IF(q.n_groups != 1 || !q.group_index.empty(), UsageError, "packed weights '",
                   name, "': per-group weight scales (", q.n_groups,
                   " groups per row) are not supported by the integer kernels yet; use "
                   "per-channel weights or the fake-quant path");
    PackedInt4Weights w;
    w.allocate(q.n_rows, q.n_cols);
    for (std::size_t o = 0; o < q.n_rows; ++o) {
      std::int32_t sum = 0;
      for (std::size_t k = 0; k < q.n_cols; ++k) {
        int const c = q.code(o, k);
        w.set_code(o, k, c);
        sum += c;
      }
      w.owned_scales_[o] = q.scales[o];
      w.owned_row_sums_[o] = sum;
    }
    return w;
  }

  /// Views codes/scales/row sums that already are in this layout (a mapped model file).
  /// \throws FormatError when a span has the wrong length or a row sum disagrees with the codes.
  static PackedInt4Weights view(std::size_t n_out, std::size_t n_in,
                                std::span<std::uint8_t const> codes, std::span<float const> scales,
                                std::span<std::int32_t const> row_sums,
                                std::shared_ptr<void const> keep_alive, std::string_view name) {
    PackedInt4Weights w;
    w.n_out_ = n_out;
    w.n_in_ = n_in;
    DFROT_THROW_IF(n_out == 0 || n_in == 0, FormatError, "packed weights '", name, "': empty ",
                   n_out, "x", n_in);
    DFROT_THROW_IF(codes.size() != w.code_bytes(), FormatError, "packed weights '", name, "': ",
                   codes.size(), " code bytes, expected ", w.code_bytes(), " for ", n_out, "x", n_in);
    DFROT_THROW_IF(scales.size() != w.n_out_pad() || row_sums.size() != w.n_out_pad(), FormatError,
                   "packed weights '", name, "': ", scales.size(), " scales and ", row_sums.size(),
                   " row sums, expected ", w.n_out_pad(), " each");
    w.codes_ = codes.data();
    w.scales_ = scales.data();
    w.row_sums_ = row_sums.data();
    w.keep_alive_ = std::move(keep_alive);
    return w;
  }

  /// Recomputes every row sum from the codes (one pass over the bytes) and checks the scales:
  /// a corrupt file would otherwise give silently wrong results.
  /// \throws FormatError naming the first bad channel.
  void check_row_sums(std::string_view name) const {
    std::int32_t sums[kPanelRows];
    for (std::size_t p = 0; p < n_panels(); ++p) {
      std::fill(sums, sums + kPanelRows, 0);
      std::uint8_t const* b = panel(p);
      for (std::size_t i = 0; i < panel_bytes(); ++i) {
        sums[(i % kBlockBytes) / 4] += (b[i] & 0xF) + (b[i] >> 4) - 16;
      }
      for (std::size_t c = 0; c < kPanelRows; ++c) {
        std::size_t const o = p * kPanelRows + c;
        bool const pad = o >= n_out_;
        DFROT_THROW_IF(sums[c] != row_sums_[o] || (pad && sums[c] != 0), FormatError,
                       "packed weights '", name, "': channel ", o, " has row sum ", row_sums_[o],
                       " but its codes sum to ", sums[c]);
        DFROT_THROW_IF(!(std::abs(scales_[o]) < 3.0e38f), FormatError, "packed weights '", name,
                       "': channel ", o, " has a non-finite scale");
      }
    }
  }

  /// Dequantizes panel p into 16 rows of k_pad() floats, `ld` ≥ k_pad() apart (row c = channel
  /// 16p + c; zeros past n_in and for padding channels): scale·code, the products of value().
  void panel_to_float(std::size_t p, float* rows, std::size_t ld) const {
    std::uint8_t const* b = panel(p);
    for (std::size_t c = 0; c < kPanelRows; ++c) {
      std::size_t const o = p * kPanelRows + c;
      float const s = o < n_out_ ? scales_[o] : 0.0f;
      float* r = rows + c * ld;
      for (std::size_t j = 0; j < k_pad() / kOctet; ++j) {
        for (std::size_t q = 0; q < 4; ++q) {
          std::uint8_t const byte = b[j * kBlockBytes + 4 * c + q];
          r[8 * j + q] = s * static_cast<float>(static_cast<int>(byte & 0xF) - 8);
          r[8 * j + 4 + q] = s * static_cast<float>(static_cast<int>(byte >> 4) - 8);
        }
      }
    }
  }

  /// Dequantized W[o, k] (tests and the fake-path comparison).
  float value(std::size_t o, std::size_t k) const {
    return scales_[o] * static_cast<float>(code(o, k));
  }

 private:
  void allocate(std::size_t n_out, std::size_t n_in) {
    n_out_ = n_out;
    n_in_ = n_in;
    owned_codes_ = AlignedBuffer<std::uint8_t>(code_bytes());
    for (std::size_t i = 0; i < owned_codes_.size(); ++i) owned_codes_[i] = 0x88;  // u = 8: w = 0
    owned_scales_ = AlignedBuffer<float>(n_out_pad());
    owned_row_sums_ = AlignedBuffer<std::int32_t>(n_out_pad());
    codes_ = owned_codes_.data();
    scales_ = owned_scales_.data();
    row_sums_ = owned_row_sums_.data();
  }
  void set_code(std::size_t o, std::size_t k, int w) {
    std::size_t const p = o / kPanelRows, c = o % kPanelRows, j = k / kOctet, r = k % kOctet;
    std::uint8_t& byte = owned_codes_[p * panel_bytes() + j * kBlockBytes + 4 * c + (r & 3)];
    auto const u = static_cast<std::uint8_t>(w + 8);
    byte = r < 4 ? static_cast<std::uint8_t>((byte & 0xF0) | u)
                 : static_cast<std::uint8_t>((byte & 0x0F) | (u << 4));
  }

  std::size_t n_out_ = 0;
  std::size_t n_in_ = 0;
  std::uint8_t const* codes_ = nullptr;
  float const* scales_ = nullptr;
  std::int32_t const* row_sums_ = nullptr;
  AlignedBuffer<std::uint8_t> owned_codes_;
  AlignedBuffer<float> owned_scales_;
  AlignedBuffer<std::int32_t> owned_row_sums_;
  std::shared_ptr<void const> keep_alive_;
};

}  // namespace dfrot::gemm
