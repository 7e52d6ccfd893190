// SPDX-License-Identifier: Apache-2.0
// PackedInt8Weights: a dense matrix (the embeddings / lm_head) as symmetric int8 codes with one
// scale per row, in the panel layout the W8A8 GEMM kernels read directly (from memory or from a
// mapped model file), with the row sums of the integer zero-point correction.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "dfrot/core/aligned_buffer.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/gemm/packed_int4_weights.hpp"

namespace dfrot::gemm {

/// \file
/// **Panel layout of int8 weights.** Codes w ∈ [−127, 127] (symmetric, scale = max|row| / 127,
/// round half to even) are stored offset-binary, u = w + 128 ∈ [1, 255], so that they are the
/// *unsigned* operand of `vpdpbusd` and the activations (int8 codes) the signed one, as in the int4
/// layout (packed_int4_weights.hpp).
/// - Output channels in panels of 16 (n_out padded with zero-weight channels, u = 128).
/// - Columns in **quads** of 4; n_in is padded with zero weights to k_pad, a multiple of 8 (the
///   activations' padding).
/// - Panel p is `k_pad/4` blocks of 64 bytes; byte 4·c + b of block j holds u(W[16p + c, 4j + b]):
///   each block is the VNNI-ordered 16×4 operand of columns 4j..4j+3.
/// - `scales[o]` (float, n_out_pad entries, padding 0) and `row_sums[o] = Σ_k W[o, k]` (int32).
/// The codes take exactly n_out_pad·k_pad bytes.

inline constexpr std::size_t kQuad = 4;

class PackedInt8Weights {
 public:
  PackedInt8Weights() = default;

  std::size_t n_out() const { return n_out_; }
  std::size_t n_in() const { return n_in_; }
  std::size_t n_out_pad() const { return round_up(n_out_, kPanelRows); }
  std::size_t k_pad() const { return round_up(n_in_, kOctet); }
  std::size_t n_panels() const { return n_out_pad() / kPanelRows; }
  std::size_t panel_bytes() const { return k_pad() / kQuad * kBlockBytes; }
  std::size_t code_bytes() const { return n_panels() * panel_bytes(); }
  /// Codes + scales + row sums.
  std::size_t bytes() const { return code_bytes() + n_out_pad() * 8; }
  bool empty() const { return n_out_ == 0; }

  std::uint8_t const* panel(std::size_t p) const { return codes_ + p * panel_bytes(); }
  std::uint8_t const* codes() const { return codes_; }
  float const* scales() const { return scales_; }
  std::int32_t const* row_sums() const { return row_sums_; }

  /// The signed code W[o, k] (0 in the padding).
  int code(std::size_t o, std::size_t k) const {
    return static_cast<int>(panel(o / kPanelRows)[offset_in_panel(o % kPanelRows, k)]) - 128;
  }
  /// Dequantized W[o, k].
  float value(std::size_t o, std::size_t k) const {
    return scales_[o] * static_cast<float>(code(o, k));
  }
  /// Dequantizes row r into `out` (n_in() floats): the embedding lookup.
  void row_to_float(std::size_t r, float* out) const {
    std::uint8_t const* p = panel(r / kPanelRows) + 4 * (r % kPanelRows);
    float const s = scales_[r];
    for (std::size_t k = 0; k < n_in_; ++k) {
      out[k] = s * static_cast<float>(static_cast<int>(p[k / kQuad * kBlockBytes + k % kQuad]) - 128);
    }
  }

  /// Quantizes a float matrix [n_out × n_in] per row: scale = max|row|/127, code = round half to
  /// even of x/scale (an all-zero row gets scale 0).
  /// \throws ShapeError when empty, NumericError naming the row for NaN/Inf.
  static PackedInt8Weights quantize(MatrixView<float const> m, std::string_view name) {
    DFROT_THROW_IF(m.rows() == 0 || m.cols() == 0, ShapeError, "int8 weights '", name, "': empty ",
                   m.rows(), "x", m.cols(), " matrix");
    PackedInt8Weights w;
    w.allocate(m.rows(), m.cols());
    for (std::size_t o = 0; o < m.rows(); ++o) {
      float amax = 0;
      for (std::size_t k = 0; k < m.cols(); ++k) {
        float const v = m(o, k);
        DFROT_THROW_IF(!std::isfinite(v), NumericError, "int8 weights '", name, "': row ", o,
                       " column ", k, " is ", v);
        amax = std::max(amax, std::abs(v));
      }
      float const scale = amax / 127.0f;
      std::int32_t sum = 0;
      std::uint8_t* p = w.owned_codes_.data() + (o / kPanelRows) * w.panel_bytes();
      for (std::size_t k = 0; k < m.cols() && scale > 0; ++k) {
        // nearbyint: round half to even in the default rounding mode.
        int const c = std::clamp(static_cast<int>(std::nearbyint(m(o, k) / scale)), -127, 127);
        p[offset_in_panel(o % kPanelRows, k)] = static_cast<std::uint8_t>(c + 128);
        sum += c;
      }
      w.owned_scales_[o] = scale;
      w.owned_row_sums_[o] = sum;
    }
    return w;
  }

  /// Views codes/scales/row sums already in this layout (a mapped model file).
  /// \throws FormatError when a span has the wrong length.
  static PackedInt8Weights view(std::size_t n_out, std::size_t n_in,
                                std::span<std::uint8_t const> codes, std::span<float const> scales,
                                std::span<std::int32_t const> row_sums,
                                std::shared_ptr<void const> keep_alive, std::string_view name) {
    PackedInt8Weights w;
    w.n_out_ = n_out;
    w.n_in_ = n_in;
    DFROT_THROW_IF(n_out == 0 || n_in == 0, FormatError, "int8 weights '", name, "': empty ",
                   n_out, "x", n_in);
    DFROT_THROW_IF(codes.size() != w.code_bytes(), FormatError, "int8 weights '", name, "': ",
                   codes.size(), " code bytes, expected ", w.code_bytes(), " for ", n_out, "x", n_in);
    DFROT_THROW_IF(scales.size() != w.n_out_pad() || row_sums.size() != w.n_out_pad(), FormatError,
                   "int8 weights '", name, "': ", scales.size(), " scales and ", row_sums.size(),
                   " row sums, expected ", w.n_out_pad(), " each");
    w.codes_ = codes.data();
    w.scales_ = scales.data();
    w.row_sums_ = row_sums.data();
    w.keep_alive_ = std::move(keep_alive);
    return w;
  }

  /// Recomputes every row sum from the codes and checks the codes' range (u = 0 is w = −128,
  /// outside the symmetric grid), the padding and the scales: a corrupt file would otherwise give
  /// silently wrong results. \throws FormatError naming the first bad channel.
  void check(std::string_view name) const {
    std::int32_t sums[kPanelRows];
    for (std::size_t p = 0; p < n_panels(); ++p) {
      std::fill(sums, sums + kPanelRows, 0);
      std::uint8_t const* b = panel(p);
      for (std::size_t i = 0; i < panel_bytes(); ++i) {
        std::size_t const c = (i % kBlockBytes) / 4;
        DFROT_THROW_IF(b[i] == 0, FormatError, "int8 weights '", name, "': channel ",
                       p * kPanelRows + c, " has the code -128 (outside [-127, 127])");
        sums[c] += static_cast<int>(b[i]) - 128;
      }
      for (std::size_t c = 0; c < kPanelRows; ++c) {
        std::size_t const o = p * kPanelRows + c;
        bool const pad = o >= n_out_;
        DFROT_THROW_IF(sums[c] != row_sums_[o] || (pad && sums[c] != 0), FormatError,
                       "int8 weights '", name, "': channel ", o, " has row sum ", row_sums_[o],
                       " but its codes sum to ", sums[c]);
        DFROT_THROW_IF(!(std::abs(scales_[o]) < 3.0e38f), FormatError, "int8 weights '", name,
                       "': channel ", o, " has a non-finite scale");
      }
    }
  }

 private:
  static std::size_t offset_in_panel(std::size_t c, std::size_t k) {
    return k / kQuad * kBlockBytes + 4 * c + k % kQuad;
  }
  void allocate(std::size_t n_out, std::size_t n_in) {
    n_out_ = n_out;
    n_in_ = n_in;
    owned_codes_ = AlignedBuffer<std::uint8_t>(code_bytes());
    std::fill(owned_codes_.data(), owned_codes_.data() + owned_codes_.size(), std::uint8_t{128});
    owned_scales_ = AlignedBuffer<float>(n_out_pad());
    owned_row_sums_ = AlignedBuffer<std::int32_t>(n_out_pad());
    codes_ = owned_codes_.data();
    scales_ = owned_scales_.data();
    row_sums_ = owned_row_sums_.data();
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
