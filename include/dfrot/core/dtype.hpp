// SPDX-License-Identifier: Apache-2.0
// IEEE binary16 (F16) storage: exact F16 → F32 widening and round-to-nearest-even narrowing.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace dfrot {

/// F16 bits → float (exact for every value, subnormals, infinities and NaN included).
constexpr float f16_bits_to_float(std::uint16_t h) noexcept {
  std::uint32_t const sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t const exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mant << 13));
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return std::bit_cast<float>(sign);
  // Subnormal: normalise the mantissa.
  int e = -1;
  do {
    ++e;
    mant <<= 1;
  } while ((mant & 0x400u) == 0);
  return std::bit_cast<float>(sign | (static_cast<std::uint32_t>(112 - e) << 23) |
                              ((mant & 0x3FFu) << 13));
}

/// float → F16 bits, round to nearest even (as `vcvtps2ph` with imm 0); overflow gives ±inf,
/// NaN stays NaN.
constexpr std::uint16_t float_to_f16_bits(float f) noexcept {
  std::uint32_t const x = std::bit_cast<std::uint32_t>(f);
  std::uint16_t const sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  std::uint32_t const abs = x & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
  if (abs >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // rounds to ≥ 65520
  if (abs < 0x38800000u) {  // below the smallest normal F16: subnormal or zero
    if (abs < 0x33000000u) return sign;  // < 2^-25 rounds to zero
    std::uint32_t const exp = abs >> 23;
    std::uint32_t const mant = (abs & 0x7FFFFFu) | 0x800000u;
    std::uint32_t const shift = 126u - exp;  // 14 + (112 - exp) + 1 … bits dropped
    std::uint32_t const kept = mant >> shift;
    std::uint32_t const rest = mant & ((1u << shift) - 1u);
    std::uint32_t const half = 1u << (shift - 1u);
    std::uint32_t const r = kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
    return static_cast<std::uint16_t>(sign | r);
  }
  std::uint32_t const rebased = abs - (112u << 23);
  std::uint32_t const kept = rebased >> 13;
  std::uint32_t const rest = rebased & 0x1FFFu;
  std::uint32_t const r = kept + ((rest > 0x1000u || (rest == 0x1000u && (kept & 1u))) ? 1u : 0u);
  return static_cast<std::uint16_t>(sign | r);
}

}  // namespace dfrot
