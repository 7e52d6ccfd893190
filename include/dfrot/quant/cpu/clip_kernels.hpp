// SPDX-License-Identifier: Apache-2.0
// ClipKernels<I>: the clip-search error kernel of one ISA level, for dispatch_isa.
#pragma once

#include <cstddef>

#include "dfrot/core/dispatch.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/quant/cpu/clip_kernels_avx2.hpp"
#include "dfrot/quant/cpu/clip_kernels_avx512.hpp"
#include "dfrot/quant/cpu/clip_kernels_scalar.hpp"

namespace dfrot::quant::cpu {

/// Levels the clip kernel implements (AVX-512 VNNI and AMX fall back to AVX-512).
inline constexpr IsaSet kClipIsas =
#if DFROT_X86
    kIsaSet<Isa::kAvx2, Isa::kAvx512>;
#else
    kIsaSet<>;
#endif

template <class T>
using ClipGroup = scalar::ClipGroup<T>;

template <Isa I>
struct ClipKernels {
  template <class T, bool kAsym, bool kSquare>
  static double error(T const* x, std::size_t n, ClipGroup<T> const& c, double norm,
                      double bound) noexcept {
    return scalar::clip_error_lanes<T, kAsym, kSquare>(x, n, c, norm, bound);
  }
};

#if DFROT_X86
template <>
struct ClipKernels<Isa::kAvx2> {
  template <class T, bool kAsym, bool kSquare>
  static double error(T const* x, std::size_t n, ClipGroup<T> const& c, double norm,
                      double bound) noexcept {
    return avx2::clip_error_lanes<T, kAsym, kSquare>(x, n, {c.scale, c.zero, c.qmin, c.qmax}, norm,
                                                     bound);
  }
};

template <>
struct ClipKernels<Isa::kAvx512> {
  template <class T, bool kAsym, bool kSquare>
  static double error(T const* x, std::size_t n, ClipGroup<T> const& c, double norm,
                      double bound) noexcept {
    return avx512::clip_error_lanes<T, kAsym, kSquare>(x, n, {c.scale, c.zero, c.qmin, c.qmax},
                                                       norm, bound);
  }
};
#endif

/// Σ_j |Q(x_j) − x_j|^norm on the best clip kernel level not above `isa` (the same double on every
/// level; see clip_kernels.inl).
template <class T>
double clip_error(Isa isa, T const* x, std::size_t n, ClipGroup<T> const& c, bool asym,
                  double norm, double bound) noexcept {
  return dispatch_isa<kClipIsas>(isa, [&]<Isa I>() {
    using K = ClipKernels<I>;
    bool const square = norm == 2.0;
    if (asym) {
      return square ? K::template error<T, true, true>(x, n, c, norm, bound)
                    : K::template error<T, true, false>(x, n, c, norm, bound);
    }
    return square ? K::template error<T, false, true>(x, n, c, norm, bound)
                  : K::template error<T, false, false>(x, n, c, norm, bound);
  });
}

}  // namespace dfrot::quant::cpu
