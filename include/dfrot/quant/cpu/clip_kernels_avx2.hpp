// SPDX-License-Identifier: Apache-2.0
// AVX2 level of the clip-search error kernel, compiled in a target region for dispatch.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "dfrot/config.hpp"
#include "dfrot/core/target.hpp"
#include "dfrot/core/simd/avx2.hpp"
#include "dfrot/quant/cpu/activation_kernels_avx2.hpp"
#include "dfrot/quant/grid.hpp"

#if DFROT_X86
#include <immintrin.h>

DFROT_TARGET_PUSH_AVX2
namespace dfrot::quant::cpu::avx2 {

/// 4 double lanes: the core vector plus what the clip kernel needs.
struct ClipD : simd::avx2::Vec<double> {
  static DFROT_FORCEINLINE Reg div(Reg a, Reg b) { return _mm256_div_pd(a, b); }
  static DFROT_FORCEINLINE Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_pd(a, b, c); }
  static DFROT_FORCEINLINE Reg fmsub(Reg a, Reg b, Reg c) { return _mm256_fmsub_pd(a, b, c); }
  static DFROT_FORCEINLINE Reg abs(Reg a) {
    return _mm256_castsi256_pd(
        _mm256_and_si256(_mm256_castpd_si256(a), _mm256_set1_epi64x(0x7FFFFFFFFFFFFFFFll)));
  }
  static DFROT_FORCEINLINE Reg min(Reg a, Reg b) { return _mm256_min_pd(a, b); }
  static DFROT_FORCEINLINE Reg max(Reg a, Reg b) { return _mm256_max_pd(a, b); }
  static DFROT_FORCEINLINE Reg round_even(Reg a) {
    return _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static DFROT_FORCEINLINE Reg select_gt(Reg a, Reg b, Reg t, Reg f) {
    return _mm256_blendv_pd(f, t, _mm256_cmp_pd(a, b, _CMP_GT_OQ));
  }
  static DFROT_FORCEINLINE Reg keep_first(Reg a, std::size_t count) {
    __m256i const keep = _mm256_cmpgt_epi64(_mm256_set1_epi64x(static_cast<long long>(count)),
                                            _mm256_setr_epi64x(0, 1, 2, 3));
    return _mm256_and_pd(a, _mm256_castsi256_pd(keep));
  }
  static DFROT_FORCEINLINE Reg exponent_field(Reg a) {
    __m256i const f = _mm256_srli_epi64(_mm256_castpd_si256(a), 52);
    return _mm256_sub_pd(
        _mm256_castsi256_pd(_mm256_or_si256(f, _mm256_set1_epi64x(0x4330000000000000ll))),
        _mm256_set1_pd(0x1p52));
  }
  static DFROT_FORCEINLINE Reg mantissa_1_2(Reg a) {
    return _mm256_castsi256_pd(_mm256_or_si256(
        _mm256_and_si256(_mm256_castpd_si256(a), _mm256_set1_epi64x(0x000FFFFFFFFFFFFFll)),
        _mm256_set1_epi64x(0x3FF0000000000000ll)));
  }
  static DFROT_FORCEINLINE Reg pow2i(Reg n) {
    __m256i const b = _mm256_castpd_si256(_mm256_add_pd(n, _mm256_set1_pd(0x1p52 + 1023.0)));
    return _mm256_castsi256_pd(_mm256_slli_epi64(b, 52));
  }
};

/// 8 float lanes: the activation kernels' float ops plus abs, fmsub, masking, widening.
struct ClipF : Ops {
  static DFROT_FORCEINLINE Reg fmsub(Reg a, Reg b, Reg c) { return _mm256_fmsub_ps(a, b, c); }
  static DFROT_FORCEINLINE Reg abs(Reg a) {
    return _mm256_castsi256_ps(
        _mm256_and_si256(_mm256_castps_si256(a), _mm256_set1_epi32(0x7FFFFFFF)));
  }
  static DFROT_FORCEINLINE Reg keep_first(Reg a, std::size_t count) {
    __m256i const keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_and_ps(a, _mm256_castsi256_ps(keep));
  }
  static DFROT_FORCEINLINE void widen(Reg a, __m256d* out) {
    out[0] = _mm256_cvtps_pd(_mm256_castps256_ps128(a));
    out[1] = _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1));
  }
};

#include "dfrot/quant/cpu/clip_kernels.inl"

}  // namespace dfrot::quant::cpu::avx2
DFROT_TARGET_POP
#endif
