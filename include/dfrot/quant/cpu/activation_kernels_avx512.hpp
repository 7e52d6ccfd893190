// SPDX-License-Identifier: Apache-2.0
// AVX-512 level of the activation quantization kernels, compiled in a target region for dispatch.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "dfrot/config.hpp"
#include "dfrot/core/target.hpp"
#include "dfrot/core/simd/avx512.hpp"
#include "dfrot/quant/grid.hpp"
#include "dfrot/quant/int4_pack.hpp"

#if DFROT_X86
#include <immintrin.h>

DFROT_TARGET_PUSH_AVX512
namespace dfrot::quant::cpu::avx512 {

/// 16-lane float ops (vmaxps/vminps semantics match max_like_simd/min_like_simd).
// Masked forms with an all-ones mask throughout: the plain intrinsics start from
// _mm512_undefined_*(), which GCC 12 reports as maybe-uninitialized (GCC bug 105593).
struct Ops : simd::avx512::Vec<float> {
  static DFROT_FORCEINLINE __m512i cvt_epi32(Reg a) {
    return _mm512_mask_cvtps_epi32(_mm512_setzero_si512(), 0xFFFF, a);
  }
  static DFROT_FORCEINLINE Reg div(Reg a, Reg b) { return _mm512_div_ps(a, b); }
  /// a / b from r = 1/b: one product and an FMA correction (see act_group).
  static DFROT_FORCEINLINE Reg div_by_reciprocal(Reg a, Reg b, Reg r) {
    Reg const y = _mm512_mul_ps(a, r);
    // y − (y·b − a)·r rather than y + (a − y·b)·r: the same value, and a zero keeps its sign.
    return _mm512_fnmadd_ps(_mm512_fmsub_ps(y, b, a), r, y);
  }
  static DFROT_FORCEINLINE Reg min(Reg a, Reg b) { return _mm512_mask_min_ps(a, 0xFFFF, a, b); }
  static DFROT_FORCEINLINE Reg max(Reg a, Reg b) { return _mm512_mask_max_ps(a, 0xFFFF, a, b); }
  static DFROT_FORCEINLINE Reg round_even(Reg a) {
    return _mm512_mask_roundscale_ps(a, 0xFFFF, a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static DFROT_FORCEINLINE float reduce_min(Reg a) {
    __m256 const h = _mm256_min_ps(_mm512_mask_extractf32x8_ps(_mm256_setzero_ps(), 0xFF, a, 0),
                                   _mm512_mask_extractf32x8_ps(_mm256_setzero_ps(), 0xFF, a, 1));
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    m = _mm_min_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static DFROT_FORCEINLINE float reduce_max(Reg a) {
    __m256 const h = _mm256_max_ps(_mm512_mask_extractf32x8_ps(_mm256_setzero_ps(), 0xFF, a, 0),
                                   _mm512_mask_extractf32x8_ps(_mm256_setzero_ps(), 0xFF, a, 1));
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static DFROT_FORCEINLINE bool reduce_any_nan(Reg a) {
    return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q) != 0;
  }
  /// 32 integer-valued codes (a: columns 0-15, b: 16-31) → 16 packed bytes, low nibble = even.
  static DFROT_FORCEINLINE void pack2(std::uint8_t* dst, Reg a, Reg b) {
    __m512i const mask = _mm512_set1_epi32(0xF);
    __m512i va = _mm512_and_si512(cvt_epi32(a), mask);
    __m512i vb = _mm512_and_si512(cvt_epi32(b), mask);
    va = _mm512_or_si512(
        va, _mm512_mask_srli_epi64(va, 0xFF, va, 28));  // low byte of qword k = c[2k] | c[2k+1]<<4
    vb = _mm512_or_si512(vb, _mm512_mask_srli_epi64(vb, 0xFF, vb, 28));
    __m128i const out =
        _mm_unpacklo_epi64(_mm512_mask_cvtepi64_epi8(_mm_setzero_si128(), 0xFF, va),
                           _mm512_mask_cvtepi64_epi8(_mm_setzero_si128(), 0xFF, vb));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), out);
  }
  /// 16 integer-valued codes → their low bytes.
  static DFROT_FORCEINLINE void store_bytes(std::uint8_t* dst, Reg a) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst),
                     _mm512_mask_cvtepi32_epi8(_mm_setzero_si128(), 0xFFFF, cvt_epi32(a)));
  }  // Integer lanes of act_row_gemm (codes in [−128, 127]).
  using IReg = __m512i;
  static DFROT_FORCEINLINE IReg izero() { return _mm512_setzero_si512(); }
  static DFROT_FORCEINLINE IReg iset1(int v) { return _mm512_set1_epi32(v); }
  static DFROT_FORCEINLINE IReg iadd(IReg a, IReg b) { return _mm512_add_epi32(a, b); }
  /// Round to nearest even in the conversion itself (embedded rounding, independent of MXCSR).
  static DFROT_FORCEINLINE IReg cvt_round_even(Reg a) {
    return _mm512_mask_cvt_roundps_epi32(_mm512_setzero_si512(), 0xFFFF, a,
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  /// 16 int32 codes in [−128, 127] → 16 int8 (vpmovdb keeps the low bytes).
  static DFROT_FORCEINLINE void store_codes(std::int8_t* dst, IReg a) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst),
                     _mm512_mask_cvtepi32_epi8(_mm_setzero_si128(), 0xFFFF, a));
  }
  static DFROT_FORCEINLINE std::int32_t ireduce_add(IReg a) {
    __m256i const h = _mm256_add_epi32(
        _mm512_mask_extracti64x4_epi64(_mm256_setzero_si256(), 0xF, a, 0),
        _mm512_mask_extracti64x4_epi64(_mm256_setzero_si256(), 0xF, a, 1));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
  }
  // Blocks of 4 × 16 codes clamped after the conversion (act_row_gemm).
  static DFROT_FORCEINLINE __m512i bytes_set1(int v) {
    return _mm512_set1_epi8(static_cast<char>(v));
  }
  static DFROT_FORCEINLINE __m512i codes4_zero() { return _mm512_setzero_si512(); }
  /// Saturates four vectors of int32 codes to int8 (packs), restores their order, clamps the
  /// bytes to [lo, hi], stores 64 codes and adds Σ (code + 128) per 8 bytes to acc (vpsadbw).
  static DFROT_FORCEINLINE void store_codes4(std::int8_t* dst, IReg a, IReg b, IReg c, IReg d,
                                             __m512i lo, __m512i hi, __m512i& acc) {
    // 128-bit lane l of the packs: a[4l..4l+3], b[4l..], c[4l..], d[4l..] (dwords 4l..4l+3).
    __m512i v = _mm512_packs_epi16(_mm512_packs_epi32(a, b), _mm512_packs_epi32(c, d));
    v = _mm512_mask_permutexvar_epi32(
        v, 0xFFFF, _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), v);
    v = _mm512_min_epi8(_mm512_max_epi8(v, lo), hi);
    _mm512_storeu_si512(dst, v);
    __m512i const biased = _mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(0x80)));
    acc = _mm512_add_epi64(acc, _mm512_sad_epu8(biased, _mm512_setzero_si512()));
  }
  /// Σ codes of the blocks from acc (count codes in all).
  static DFROT_FORCEINLINE std::int64_t codes4_sum(__m512i acc, std::size_t count) {
    __m256i const h = _mm256_add_epi64(
        _mm512_mask_extracti64x4_epi64(_mm256_setzero_si256(), 0xF, acc, 0),
        _mm512_mask_extracti64x4_epi64(_mm256_setzero_si256(), 0xF, acc, 1));
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si64(s) - 128 * static_cast<std::int64_t>(count);
  }

};

#include "dfrot/quant/cpu/activation_kernels.inl"

}  // namespace dfrot::quant::cpu::avx512
DFROT_TARGET_POP
#endif
