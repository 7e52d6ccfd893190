// SPDX-License-Identifier: Apache-2.0
// clip_error(isa, …): the clip-search error kernel on the best ISA level, for dispatch_isa.
#pragma once

#include <cstddef>

#include "dfrot/core/dispatch.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/quant/cpu/clip_kernels_avx2.hpp"
#include "dfrot/quant/cpu/clip_kernels_avx512.hpp"
#include "dfrot/quant/cpu/clip_kernels_scalar.hpp"
#include "dfrot/quant/grid.hpp"

namespace dfrot::quant::cpu {

/// Levels the clip kernel implements (AVX-512 VNNI and AMX fall back to AVX-512).
inline constexpr IsaSet kClipIsas =
#if DFROT_X86
    kIsaSet<Isa::kAvx2, Isa::kAvx512>;
#else
    kIsaSet<>;
#endif

/// clip_error_lanes of level I.
template <Isa I, class T, bool kAsym, bool kSquare>
double clip_error_level(T const* x, std::size_t n, QuantParams<T> p, Grid<T> const& g, double norm,
                        double bound) noexcept {
#if DFROT_X86
  if constexpr (I == Isa::kAvx512) {
    return avx512::clip_error_lanes<T, kAsym, kSquare>(x, n, p, g, norm, bound);
  } else if constexpr (I == Isa::kAvx2) {
    return avx2::clip_error_lanes<T, kAsym, kSquare>(x, n, p, g, norm, bound);
  }
#endif
  return scalar::clip_error_lanes<T, kAsym, kSquare>(x, n, p, g, norm, bound);
}

/// Σ_j |Q(x_j) − x_j|^norm on the best clip kernel level not above `isa` (the same double on every
/// level; see clip_kernels.inl).
template <class T>
double clip_error(Isa isa, T const* x, std::size_t n, QuantParams<T> p, Grid<T> const& g,
                  double norm, double bound) noexcept {
  return dispatch_isa<kClipIsas>(isa, [&]<Isa I>() {
    bool const square = norm == 2.0;
    if (g.symmetry == Symmetry::kAsym) {
      return square ? clip_error_level<I, T, true, true>(x, n, p, g, norm, bound)
                    : clip_error_level<I, T, true, false>(x, n, p, g, norm, bound);
    }
    return square ? clip_error_level<I, T, false, true>(x, n, p, g, norm, bound)
                  : clip_error_level<I, T, false, false>(x, n, p, g, norm, bound);
  });
}

}  // namespace dfrot::quant::cpu
