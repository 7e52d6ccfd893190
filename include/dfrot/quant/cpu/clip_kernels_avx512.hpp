// SPDX-License-Identifier: Apache-2.0
// AVX-512 level of the clip-search error kernel, compiled in a target region for dispatch.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "dfrot/config.hpp"
#include "dfrot/core/target.hpp"
#include "dfrot/core/simd/avx512.hpp"
#include "dfrot/quant/cpu/activation_kernels_avx512.hpp"
#include "dfrot/quant/grid.hpp"

#if DFROT_X86
#include <immintrin.h>

DFROT_TARGET_PUSH_AVX512
namespace dfrot::quant::cpu::avx512 {

// Masked forms with an all-ones mask where the plain intrinsics start from _mm512_undefined_*()
// (GCC 12 reports those as maybe-uninitialized, GCC bug 105593).

/// 8 double lanes: the core vector plus what the clip kernel needs.
struct ClipD : simd::avx512::Vec<double> {
  static DFROT_FORCEINLINE Reg div(Reg a, Reg b) { return _mm512_div_pd(a, b); }
  static DFROT_FORCEINLINE Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_pd(a, b, c); }
  static DFROT_FORCEINLINE Reg fmsub(Reg a, Reg b, Reg c) { return _mm512_fmsub_pd(a, b, c); }
  static DFROT_FORCEINLINE Reg abs(Reg a) {
    return _mm512_castsi512_pd(
        _mm512_and_si512(_mm512_castpd_si512(a), _mm512_set1_epi64(0x7FFFFFFFFFFFFFFFll)));
  }
  static DFROT_FORCEINLINE Reg min(Reg a, Reg b) { return _mm512_mask_min_pd(a, 0xFF, a, b); }
  static DFROT_FORCEINLINE Reg max(Reg a, Reg b) { return _mm512_mask_max_pd(a, 0xFF, a, b); }
  static DFROT_FORCEINLINE Reg round_even(Reg a) {
    return _mm512_mask_roundscale_pd(a, 0xFF, a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static DFROT_FORCEINLINE Reg select_gt(Reg a, Reg b, Reg t, Reg f) {
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_GT_OQ), f, t);
  }
  static DFROT_FORCEINLINE Reg keep_first(Reg a, std::size_t count) {
    auto const m = static_cast<__mmask8>(count >= 8 ? 0xFFu : (1u << count) - 1u);
    return _mm512_maskz_mov_pd(m, a);
  }
  static DFROT_FORCEINLINE Reg exponent_field(Reg a) {
    // (bits >> 52) | bits of 2⁵², minus 2⁵²: the small integer exactly.
    __m512i const f = _mm512_mask_srli_epi64(_mm512_setzero_si512(), 0xFF, _mm512_castpd_si512(a), 52);
    return _mm512_sub_pd(
        _mm512_castsi512_pd(_mm512_or_si512(f, _mm512_set1_epi64(0x4330000000000000ll))),
        _mm512_set1_pd(0x1p52));
  }
  static DFROT_FORCEINLINE Reg mantissa_1_2(Reg a) {
    return _mm512_castsi512_pd(_mm512_or_si512(
        _mm512_and_si512(_mm512_castpd_si512(a), _mm512_set1_epi64(0x000FFFFFFFFFFFFFll)),
        _mm512_set1_epi64(0x3FF0000000000000ll)));
  }
  static DFROT_FORCEINLINE Reg pow2i(Reg n) {
    // n + 2⁵² + 1023 holds n + 1023 in its low bits; shifted into the exponent field.
    __m512i const b = _mm512_castpd_si512(_mm512_add_pd(n, _mm512_set1_pd(0x1p52 + 1023.0)));
    return _mm512_castsi512_pd(_mm512_mask_slli_epi64(_mm512_setzero_si512(), 0xFF, b, 52));
  }
};

/// 16 float lanes: the activation kernels' float ops plus abs, fmsub, masking, widening.
struct ClipF : Ops {
  static DFROT_FORCEINLINE Reg fmsub(Reg a, Reg b, Reg c) { return _mm512_fmsub_ps(a, b, c); }
  static DFROT_FORCEINLINE Reg abs(Reg a) {
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7FFFFFFF)));
  }
  static DFROT_FORCEINLINE Reg keep_first(Reg a, std::size_t count) {
    auto const m = static_cast<__mmask16>(count >= 16 ? 0xFFFFu : (1u << count) - 1u);
    return _mm512_maskz_mov_ps(m, a);
  }
  static DFROT_FORCEINLINE void widen(Reg a, __m512d* out) {
    out[0] = _mm512_mask_cvtps_pd(_mm512_setzero_pd(), 0xFF,
                                  _mm512_mask_extractf32x8_ps(_mm256_setzero_ps(), 0xFF, a, 0));
    out[1] = _mm512_mask_cvtps_pd(_mm512_setzero_pd(), 0xFF,
                                  _mm512_mask_extractf32x8_ps(_mm256_setzero_ps(), 0xFF, a, 1));
  }
};

#include "dfrot/quant/cpu/clip_kernels.inl"

}  // namespace dfrot::quant::cpu::avx512
DFROT_TARGET_POP
#endif
