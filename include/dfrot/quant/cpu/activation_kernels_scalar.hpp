// SPDX-License-Identifier: Apache-2.0
// Scalar level of the activation quantization kernels (the bit-exact oracle of the SIMD levels).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "dfrot/core/simd/scalar.hpp"
#include "dfrot/quant/grid.hpp"
#include "dfrot/quant/int4_pack.hpp"

namespace dfrot::quant::cpu::scalar {

/// One-lane ops with the same interface as the AVX2 / AVX-512 ops.
struct Ops : simd::scalar::Vec<float> {
  static Reg div(Reg a, Reg b) { return a / b; }
  /// The oracle divides: the SIMD levels' reciprocal form must reproduce its codes.
  static Reg div_by_reciprocal(Reg a, Reg b, Reg) { return a / b; }
  static Reg min(Reg a, Reg b) { return min_like_simd(a, b); }
  static Reg max(Reg a, Reg b) { return max_like_simd(a, b); }
  static Reg round_even(Reg a) { return round_half_even(a); }
  static float reduce_min(Reg a) { return a; }
  static float reduce_max(Reg a) { return a; }
  static bool reduce_any_nan(Reg a) { return std::isnan(a); }
  /// Two integer-valued codes → one packed byte.
  static void pack2(std::uint8_t* dst, Reg a, Reg b) {
    dst[0] = pack_nibbles(static_cast<int>(a), static_cast<int>(b));
  }
  /// One integer-valued code → its low byte.
  static void store_bytes(std::uint8_t* dst, Reg a) {
    dst[0] = static_cast<std::uint8_t>(static_cast<unsigned>(static_cast<int>(a)) & 0xFFu);
  }
  // Integer lanes of act_row_gemm (codes in [−128, 127]).
  using IReg = std::int32_t;
  static IReg izero() { return 0; }
  static IReg iset1(int v) { return v; }
  static IReg iadd(IReg a, IReg b) { return a + b; }
  /// Round to nearest even of a finite value already clamped to the code range.
  static IReg cvt_round_even(Reg a) { return static_cast<IReg>(round_half_even(a)); }
  static void store_codes(std::int8_t* dst, IReg a) { dst[0] = static_cast<std::int8_t>(a); }
  static std::int32_t ireduce_add(IReg a) { return a; }
  // Blocks of 4 codes clamped after the conversion (act_row_gemm).
  static int bytes_set1(int v) { return v; }
  static std::int64_t codes4_zero() { return 0; }
  /// Clamps four unclamped codes to [lo, hi], stores them as int8 and adds them to acc.
  static void store_codes4(std::int8_t* dst, IReg a, IReg b, IReg c, IReg d, int lo, int hi,
                           std::int64_t& acc) {
    IReg const v[4] = {a, b, c, d};
    for (int i = 0; i < 4; ++i) {
      int const q = v[i] < lo ? lo : (v[i] > hi ? hi : v[i]);
      dst[i] = static_cast<std::int8_t>(q);
      acc += q;
    }
  }
  /// Σ codes of the blocks (count codes).
  static std::int64_t codes4_sum(std::int64_t acc, std::size_t) { return acc; }
};

#include "dfrot/quant/cpu/activation_kernels.inl"

}  // namespace dfrot::quant::cpu::scalar
