// SPDX-License-Identifier: Apache-2.0
// AVX2 level of the activation quantization kernels, compiled in a target region for dispatch.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dfrot/config.hpp"
#include "dfrot/core/target.hpp"
#include "dfrot/core/simd/avx2.hpp"
#include "dfrot/quant/grid.hpp"
#include "dfrot/quant/int4_pack.hpp"

#if DFROT_X86
#include <immintrin.h>

DFROT_TARGET_PUSH_AVX2
namespace dfrot::quant::cpu::avx2 {

/// 8-lane float ops (maxps/minps semantics match max_like_simd/min_like_simd).
struct Ops : simd::avx2::Vec<float> {
  static DFROT_FORCEINLINE Reg div(Reg a, Reg b) { return _mm256_div_ps(a, b); }
  /// a / b from r = 1/b: one product and an FMA correction (see act_group).
  static DFROT_FORCEINLINE Reg div_by_reciprocal(Reg a, Reg b, Reg r) {
    Reg const y = _mm256_mul_ps(a, r);
    // y − (y·b − a)·r rather than y + (a − y·b)·r: the same value, and a zero keeps its sign.
    return _mm256_fnmadd_ps(_mm256_fmsub_ps(y, b, a), r, y);
  }
  static DFROT_FORCEINLINE Reg min(Reg a, Reg b) { return _mm256_min_ps(a, b); }
  static DFROT_FORCEINLINE Reg max(Reg a, Reg b) { return _mm256_max_ps(a, b); }
  static DFROT_FORCEINLINE Reg round_even(Reg a) {
    return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static DFROT_FORCEINLINE float reduce_min(Reg a) {
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    m = _mm_min_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static DFROT_FORCEINLINE float reduce_max(Reg a) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static DFROT_FORCEINLINE bool reduce_any_nan(Reg a) {
    return _mm256_movemask_ps(_mm256_cmp_ps(a, a, _CMP_UNORD_Q)) != 0;
  }
  /// 16 integer-valued codes (a: columns 0-7, b: 8-15) → 8 packed bytes, low nibble = even column.
  static DFROT_FORCEINLINE void pack2(std::uint8_t* dst, Reg a, Reg b) {
    __m256i const ia = _mm256_cvtps_epi32(a), ib = _mm256_cvtps_epi32(b);
    // int16 codes 0-15 in order (packs interleaves 128-bit lanes; permute4x64 restores the order).
    __m256i v = _mm256_permute4x64_epi64(_mm256_packs_epi32(ia, ib), 0xD8);
    v = _mm256_and_si256(v, _mm256_set1_epi32(0x000F000F));
    v = _mm256_or_si256(v, _mm256_srli_epi32(v, 12));  // low byte of dword k = c[2k] | c[2k+1]<<4
    __m256i const gather =
        _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12,
                         -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    v = _mm256_shuffle_epi8(v, gather);
    __m128i const out =
        _mm_unpacklo_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), out);
  }
  /// 8 integer-valued codes → their low bytes.
  static DFROT_FORCEINLINE void store_bytes(std::uint8_t* dst, Reg a) {
    __m256i v = _mm256_and_si256(_mm256_cvtps_epi32(a), _mm256_set1_epi32(0xFF));
    v = _mm256_packus_epi32(v, v);
    v = _mm256_packus_epi16(v, v);
    __m128i const out =
        _mm_unpacklo_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), out);
  }  // Integer lanes of act_row_gemm (codes in [−128, 127]).
  using IReg = __m256i;
  static DFROT_FORCEINLINE IReg izero() { return _mm256_setzero_si256(); }
  static DFROT_FORCEINLINE IReg iset1(int v) { return _mm256_set1_epi32(v); }
  static DFROT_FORCEINLINE IReg iadd(IReg a, IReg b) { return _mm256_add_epi32(a, b); }
  /// Round to nearest even, then convert (exact): vcvtps2dq alone would follow MXCSR.
  static DFROT_FORCEINLINE IReg cvt_round_even(Reg a) {
    return _mm256_cvtps_epi32(_mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  /// 8 int32 codes in [−128, 127] → 8 int8 (the saturating packs are exact in that range).
  static DFROT_FORCEINLINE void store_codes(std::int8_t* dst, IReg a) {
    __m256i v = _mm256_packs_epi32(a, a);  // lane l: a[4l..4l+3] twice, as int16
    v = _mm256_packs_epi16(v, v);          // ... as int8
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst),
                     _mm_unpacklo_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
  }
  static DFROT_FORCEINLINE std::int32_t ireduce_add(IReg a) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
  }
  // Blocks of 4 × 8 codes clamped after the conversion (act_row_gemm).
  static DFROT_FORCEINLINE __m256i bytes_set1(int v) {
    return _mm256_set1_epi8(static_cast<char>(v));
  }
  static DFROT_FORCEINLINE __m256i codes4_zero() { return _mm256_setzero_si256(); }
  /// Saturates four vectors of int32 codes to int8 (packs), restores their order, clamps the
  /// bytes to [lo, hi], stores 32 codes and adds Σ (code + 128) per 8 bytes to acc (vpsadbw).
  static DFROT_FORCEINLINE void store_codes4(std::int8_t* dst, IReg a, IReg b, IReg c, IReg d,
                                             __m256i lo, __m256i hi, __m256i& acc) {
    // 128-bit lane l of the packs: a[4l..4l+3], b[4l..], c[4l..], d[4l..] (dwords 4l'..4l'+3).
    __m256i v = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    v = _mm256_min_epi8(_mm256_max_epi8(v, lo), hi);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), v);
    __m256i const biased = _mm256_xor_si256(v, _mm256_set1_epi8(static_cast<char>(0x80)));
    acc = _mm256_add_epi64(acc, _mm256_sad_epu8(biased, _mm256_setzero_si256()));
  }
  /// Σ codes of the blocks from acc (count codes in all).
  static DFROT_FORCEINLINE std::int64_t codes4_sum(__m256i acc, std::size_t count) {
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si64(s) - 128 * static_cast<std::int64_t>(count);
  }

};

#include "dfrot/quant/cpu/activation_kernels.inl"

}  // namespace dfrot::quant::cpu::avx2
DFROT_TARGET_POP
#endif
