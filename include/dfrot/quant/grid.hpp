// SPDX-License-Identifier: Apache-2.0
// Integer grids: clamp ranges, (scale, zero) rules for weights and activations, round-half-to-even.
#pragma once

#include <cmath>
#include <concepts>

#include "dfrot/quant/quant_config.hpp"

namespace dfrot::quant {

/// Element types the quantizers compute in (float for kernels, double for GPTQ and references).
template <class T>
concept QuantScalar = std::same_as<T, float> || std::same_as<T, double>;

/// The integer range of a b-bit grid, as exact floating-point values (ALGORITHMS.md §3.1).
/// Symmetric: maxq = 2^(b−1)−1, codes [−(maxq+1), maxq] ([−8, 7] for 4 bit; −8 is reachable only
/// when clipping). Asymmetric: maxq = 2^b−1, codes [0, maxq].
template <QuantScalar T>
struct Grid {
  Symmetry symmetry = Symmetry::kSym;
  T maxq = T(7);
  T qmin = T(-8);
  T qmax = T(7);
};

template <QuantScalar T>
constexpr Grid<T> make_grid(int bits, Symmetry symmetry) {
  if (symmetry == Symmetry::kSym) {
    T const maxq = static_cast<T>((1 << (bits - 1)) - 1);
    return {symmetry, maxq, -maxq - T(1), maxq};
  }
  T const maxq = static_cast<T>((1 << bits) - 1);
  return {symmetry, maxq, T(0), maxq};
}

/// One group's parameters: x̂ = scale·(q − zero). `zero` is integer-valued (0 for symmetric).
template <QuantScalar T>
struct QuantParams {
  T scale = T(1);
  T zero = T(0);
};

/// max/min with the x86 `maxps`/`minps` semantics (second operand when unordered or equal), so the
/// scalar level matches the SIMD levels bit for bit, signed zeros included.
template <QuantScalar T>
constexpr T max_like_simd(T a, T b) {
  return a > b ? a : b;
}
template <QuantScalar T>
constexpr T min_like_simd(T a, T b) {
  return a < b ? a : b;
}

/// Round half to even (torch.round, CUDA __half2int_rn). Uses std::nearbyint, so it assumes the
/// default FE_TONEAREST rounding mode; never std::round (half away from zero).
template <QuantScalar T>
inline T round_half_even(T x) {
  return std::nearbyint(x);
}

/// The integer code of x as a float: clamp(round(x/scale) + zero, qmin, qmax).
template <QuantScalar T>
inline T quantize_code(T x, QuantParams<T> p, Grid<T> const& g) {
  T r = round_half_even(x / p.scale);
  if (g.symmetry == Symmetry::kAsym) r = r + p.zero;
  return min_like_simd(max_like_simd(r, g.qmin), g.qmax);
}

/// scale·(q − zero) (scale·q for symmetric grids).
template <QuantScalar T>
inline T dequantize_code(T q, QuantParams<T> p, Grid<T> const& g) {
  return g.symmetry == Symmetry::kAsym ? p.scale * (q - p.zero) : p.scale * q;
}

/// Quantize then dequantize.
template <QuantScalar T>
inline T fake_quantize(T x, QuantParams<T> p, Grid<T> const& g) {
  return dequantize_code(quantize_code(x, p, g), p, g);
}

/// Weight rule (ALGORITHMS.md §3.2) for a range [lo, hi] that already contains 0 and any clip
/// factor. Sym: scale = max(|lo|, hi)/maxq with the numerator clamped to ≥ 1e-5 when `clamp_min`.
/// Asym: (lo, hi) = (0, 0) becomes (−1, 1); scale = max(hi − lo, 1e-5)/maxq (clamp only when
/// `clamp_min`; the MSE search runs without it); zero = round(−lo/scale).
template <QuantScalar T>
inline QuantParams<T> weight_params(T lo, T hi, Grid<T> const& g, bool clamp_min = true) {
  lo = lo + T(0);  // canonical +0 (x + 0 turns −0 into +0)
  hi = hi + T(0);
  if (g.symmetry == Symmetry::kSym) {
    T m = max_like_simd(std::abs(lo), std::abs(hi));
    if (clamp_min) m = max_like_simd(m, T(1e-5));
    return {m / g.maxq, T(0)};
  }
  if (lo == T(0) && hi == T(0)) {
    lo = T(-1);
    hi = T(1);
  }
  T range = hi - lo;
  if (clamp_min) range = max_like_simd(range, T(1e-5));
  T const scale = range / g.maxq;
  return {scale, round_half_even(-lo / scale) + T(0)};
}

/// Activation rule (ALGORITHMS.md §3.4) for a range [lo, hi] that already includes 0 (per-token)
/// or not (groups) and the clip factor. Sym: scale = max(|lo|, |hi|)/maxq, 1 when that is 0.
/// Asym: (0, 0) becomes (−1, 1); a constant non-zero group (lo == hi, the reference would divide
/// by zero) is widened to include 0; scale = (hi − lo)/maxq (1 if it underflows to 0);
/// zero = round(−lo/scale).
template <QuantScalar T>
inline QuantParams<T> activation_params(T lo, T hi, Grid<T> const& g) {
  lo = lo + T(0);
  hi = hi + T(0);
  if (g.symmetry == Symmetry::kSym) {
    T const scale = max_like_simd(std::abs(lo), std::abs(hi)) / g.maxq;
    return {scale > T(0) ? scale : T(1), T(0)};
  }
  if (lo == T(0) && hi == T(0)) {
    lo = T(-1);
    hi = T(1);
  } else if (lo == hi) {
    lo = min_like_simd(lo, T(0)) + T(0);
    hi = max_like_simd(hi, T(0)) + T(0);
  }
  T scale = (hi - lo) / g.maxq;
  if (!(scale > T(0))) scale = T(1);
  return {scale, round_half_even(-lo / scale) + T(0)};
}

}  // namespace dfrot::quant
