// SPDX-License-Identifier: Apache-2.0
// GpuInt4Weights: the host image of int4 weights in the layout the CUDA W4A4 kernels read, built
// from the CPU panel layout (so the GPU path runs the same quantized model files), and the matching
// activation images. Plain C++: built and tested without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/gemm/packed_int4_weights.hpp"
#include "dfrot/gemm/quantized_activations.hpp"
#include "dfrot/quant/int4_pack.hpp"

namespace dfrot::gemm::cuda {

/// Tile of the CUDA kernels: 64 output channels × 64 tokens per thread block, 64 columns (k) per
/// main-loop step. The device images are padded to these multiples with zero codes, so the kernels
/// never test bounds along N or K.
inline constexpr std::size_t kTileN = 64;
inline constexpr std::size_t kTileM = 64;
inline constexpr std::size_t kTileK = 64;

/// **GPU weight layout**: the packed int4 layout of quant/int4_pack.hpp (column 2j in the low nibble
/// of byte j, two's complement) with rows of k_pad/2 bytes: [n_pad × k_pad/2], n_pad =
/// round_up(n_out, 64), k_pad = round_up(n_in, 64). That is PTX's `.s4` element order (element 0 in
/// the least significant bits of a 32-bit register). Padding codes are 0. `scales` and
/// `row_sums` (Σ_k W[o, k]) have n_pad entries (padding 0).
/// Both kernels read the codes in 32-bit words of 8 consecutive k: the int4 MMA as they are, the
/// int8 MMA after unpacking them to bytes in registers.
struct GpuInt4Weights {
  std::size_t n_out = 0;
  std::size_t n_in = 0;
  std::size_t n_pad = 0;
  std::size_t k_pad = 0;
  std::vector<std::uint8_t> codes;  ///< [n_pad × k_pad/2]
  std::vector<float> scales;        ///< [n_pad]
  std::vector<std::int32_t> row_sums;

  std::size_t row_bytes() const { return k_pad / 2; }

  /// The signed code W[o, k] (0 in the padding).
  int code(std::size_t o, std::size_t k) const {
    return quant::unpack_signed_nibble(codes[o * row_bytes() + k / 2], k % 2 != 0);
  }

  /// Repacks the CPU panel layout (PackedInt4Weights) into the GPU layout.
  static GpuInt4Weights from_packed(PackedInt4Weights const& w) {
    DFROT_THROW_IF(w.empty(), ShapeError, "GpuInt4Weights: empty weights");
    GpuInt4Weights g;
    g.n_out = w.n_out();
    g.n_in = w.n_in();
    g.n_pad = round_up(w.n_out(), kTileN);
    g.k_pad = round_up(w.n_in(), kTileK);
    g.codes.assign(g.n_pad * g.row_bytes(), 0);
    g.scales.assign(g.n_pad, 0.0f);
    g.row_sums.assign(g.n_pad, 0);
    std::vector<std::int8_t> row(g.n_in);
    for (std::size_t o = 0; o < g.n_out; ++o) {
      for (std::size_t k = 0; k < g.n_in; ++k) row[k] = static_cast<std::int8_t>(w.code(o, k));
      quant::pack_int4_row(row, std::span<std::uint8_t>(g.codes.data() + o * g.row_bytes(), g.row_bytes()));
      g.scales[o] = w.scales()[o];
      g.row_sums[o] = w.row_sums()[o];
    }
    return g;
  }
};

/// How the kernels read the activation codes of QuantizedActivations (see quantized_activations.hpp).
enum class ActivationCodes {
  kSigned4,    ///< symmetric ≤ 4-bit: codes in [−8, 7] (PTX `.s4`)
  kUnsigned4,  ///< asymmetric ≤ 4-bit: codes in [0, 15] (PTX `.u4`), offset = zero point
  kInt8,       ///< anything else up to 8 bits: int8 codes (only the int8 MMA path reads these)
};

inline char const* to_string(ActivationCodes c) {
  switch (c) {
    case ActivationCodes::kSigned4: return "signed 4-bit";
    case ActivationCodes::kUnsigned4: return "unsigned 4-bit";
    case ActivationCodes::kInt8: return "int8";
  }
  return "?";
}

/// The narrowest operand type that holds every code of `a` (scans the codes: a quantizer with
/// fewer bits gives a range inside its type's).
inline ActivationCodes classify_activation_codes(QuantizedActivations const& a) {
  int lo = 0, hi = 0;
  for (std::size_t t = 0; t < a.n_rows; ++t) {
    std::int8_t const* r = a.row(t);
    for (std::size_t k = 0; k < a.n_cols; ++k) {
      lo = r[k] < lo ? r[k] : lo;
      hi = r[k] > hi ? r[k] : hi;
    }
  }
  if (lo >= -8 && hi <= 7) return ActivationCodes::kSigned4;
  if (lo >= 0 && hi <= 15) return ActivationCodes::kUnsigned4;
  return ActivationCodes::kInt8;
}

/// Activation image of the int4 MMA path: the int4_pack.hpp layout with rows of k_pad/2 bytes (two's
/// complement nibbles for kSigned4, plain ones for kUnsigned4), zero padding.
/// \throws UsageError when `codes` is kInt8 or a code does not fit it.
inline std::vector<std::uint8_t> pack_activation_nibbles(QuantizedActivations const& a,
                                                         std::size_t k_pad, ActivationCodes codes) {
  DFROT_THROW_IF(codes == ActivationCodes::kInt8, UsageError,
                 "pack_activation_nibbles: int8 codes do not fit 4 bits");
  DFROT_THROW_IF(k_pad < a.n_cols || k_pad % kTileK != 0, ShapeError, "pack_activation_nibbles: k_pad ",
                 k_pad, " for ", a.n_cols, " columns (expected a multiple of ", kTileK, ")");
  int const lo = codes == ActivationCodes::kSigned4 ? -8 : 0, hi = lo + 15;
  std::vector<std::uint8_t> out(a.n_rows * k_pad / 2, 0);
  for (std::size_t t = 0; t < a.n_rows; ++t) {
    std::int8_t const* r = a.row(t);
    for (std::size_t k = 0; k < a.n_cols; ++k) {
      DFROT_THROW_IF(r[k] < lo || r[k] > hi, UsageError, "pack_activation_nibbles: code ",
                     int{r[k]}, " of token ", t, " is not ", to_string(codes));
    }
    quant::pack_int4_row(std::span<std::int8_t const>(r, a.n_cols),
                         std::span<std::uint8_t>(out.data() + t * k_pad / 2, k_pad / 2));
  }
  return out;
}

/// Activation image of the int8 MMA path: row-major [n_rows × k_pad] int8 codes, zero padding.
inline std::vector<std::int8_t> pad_activation_codes(QuantizedActivations const& a, std::size_t k_pad) {
  DFROT_THROW_IF(k_pad < a.n_cols || k_pad % kTileK != 0, ShapeError, "pad_activation_codes: k_pad ",
                 k_pad, " for ", a.n_cols, " columns (expected a multiple of ", kTileK, ")");
  std::vector<std::int8_t> out(a.n_rows * k_pad, 0);
  for (std::size_t t = 0; t < a.n_rows; ++t) {
    std::int8_t const* r = a.row(t);
    for (std::size_t k = 0; k < a.n_cols; ++k) out[t * k_pad + k] = r[k];
  }
  return out;
}

}  // namespace dfrot::gemm::cuda
