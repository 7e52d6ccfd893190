// SPDX-License-Identifier: Apache-2.0
// Scalar level of the clip-search error kernel (the bit-exact oracle of the SIMD levels).
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "dfrot/config.hpp"
#include "dfrot/core/simd/scalar.hpp"
#include "dfrot/quant/grid.hpp"

namespace dfrot::quant::cpu::scalar {

/// One-lane ops of the clip kernel, for float or double: the core scalar vector plus what the
/// kernel needs (max/min as maxps/minps).
template <class T>
struct ClipLane : simd::scalar::Vec<T> {
  using Reg = T;
  static Reg div(Reg a, Reg b) { return a / b; }
  static Reg fma(Reg a, Reg b, Reg c) { return std::fma(a, b, c); }
  static Reg fmsub(Reg a, Reg b, Reg c) { return std::fma(a, b, -c); }
  static Reg abs(Reg a) { return std::fabs(a); }
  static Reg min(Reg a, Reg b) { return min_like_simd(a, b); }
  static Reg max(Reg a, Reg b) { return max_like_simd(a, b); }
  static Reg round_even(Reg a) { return round_half_even(a); }
  /// a > b ? t : f (false when unordered, as _CMP_GT_OQ).
  static Reg select_gt(Reg a, Reg b, Reg t, Reg f) { return a > b ? t : f; }
  /// Lanes [0, count) kept, the others 0.
  static Reg keep_first(Reg a, std::size_t count) { return count > 0 ? a : T(0); }
  static void widen(Reg a, double* out)
    requires std::is_same_v<T, float>
  {
    out[0] = static_cast<double>(a);
  }
  /// The biased exponent field of a double ≥ 0, as a double.
  static double exponent_field(double a) requires std::is_same_v<T, double> {
    return static_cast<double>(std::bit_cast<std::uint64_t>(a) >> 52);
  }
  /// The significand of a double as a value in [1, 2).
  static double mantissa_1_2(double a) requires std::is_same_v<T, double> {
    return std::bit_cast<double>((std::bit_cast<std::uint64_t>(a) & 0x000FFFFFFFFFFFFFull) |
                                 0x3FF0000000000000ull);
  }
  /// 2ⁿ for an integer-valued n in [−1022, 1023].
  static double pow2i(double n) requires std::is_same_v<T, double> {
    return std::bit_cast<double>(static_cast<std::uint64_t>(static_cast<std::int64_t>(n) + 1023)
                                 << 52);
  }
};

using ClipF = ClipLane<float>;
using ClipD = ClipLane<double>;

#include "dfrot/quant/cpu/clip_kernels.inl"

}  // namespace dfrot::quant::cpu::scalar
