// SPDX-License-Identifier: Apache-2.0
// AVX-512 vectors (16 floats / 8 doubles) for dfrot's kernels; compiled inside a target region.
#pragma once

#include <cstddef>

#include "dfrot/config.hpp"
#include "dfrot/core/target.hpp"

#if DFROT_X86
#include <immintrin.h>

DFROT_TARGET_PUSH_AVX512
namespace dfrot::simd::avx512 {

template <class T>
struct Vec;

// Permutes use the all-ones-mask forms: the plain ones start from _mm512_undefined_*(), which
// GCC 12 reports as maybe-uninitialized (GCC bug 105593).

template <>
struct Vec<float> {
  using Element = float;
  using Reg = __m512;
  static constexpr std::size_t kLanes = 16;
  static DFROT_FORCEINLINE Reg load(float const* p) { return _mm512_loadu_ps(p); }
  static DFROT_FORCEINLINE void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static DFROT_FORCEINLINE Reg set1(float v) { return _mm512_set1_ps(v); }
  static DFROT_FORCEINLINE Reg zero() { return _mm512_setzero_ps(); }
  static DFROT_FORCEINLINE Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static DFROT_FORCEINLINE Reg sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
  static DFROT_FORCEINLINE Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static DFROT_FORCEINLINE Reg fmadd_sign(Reg a, Reg s, Reg c) { return _mm512_fmadd_ps(a, s, c); }
  /// Stages h = 1, 2, 4, 8 in order: lane i becomes sign_i * v[i] + v[i ^ h], sign = -1 where i & h.
  static DFROT_FORCEINLINE Reg butterfly_lanes(Reg v) {
    v = _mm512_fmadd_ps(
        v, _mm512_setr_ps(1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1),
        _mm512_mask_permute_ps(v, 0xFFFF, v, 0xB1));
    v = _mm512_fmadd_ps(
        v, _mm512_setr_ps(1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1),
        _mm512_mask_permute_ps(v, 0xFFFF, v, 0x4E));
    v = _mm512_fmadd_ps(
        v, _mm512_setr_ps(1, 1, 1, 1, -1, -1, -1, -1, 1, 1, 1, 1, -1, -1, -1, -1),
        _mm512_mask_shuffle_f32x4(v, 0xFFFF, v, v, 0xB1));
    v = _mm512_fmadd_ps(
        v, _mm512_setr_ps(1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1),
        _mm512_mask_shuffle_f32x4(v, 0xFFFF, v, v, 0x4E));
    return v;
  }
};

template <>
struct Vec<double> {
  using Element = double;
  using Reg = __m512d;
  static constexpr std::size_t kLanes = 8;
  static DFROT_FORCEINLINE Reg load(double const* p) { return _mm512_loadu_pd(p); }
  static DFROT_FORCEINLINE void store(double* p, Reg v) { _mm512_storeu_pd(p, v); }
  static DFROT_FORCEINLINE Reg set1(double v) { return _mm512_set1_pd(v); }
  static DFROT_FORCEINLINE Reg zero() { return _mm512_setzero_pd(); }
  static DFROT_FORCEINLINE Reg add(Reg a, Reg b) { return _mm512_add_pd(a, b); }
  static DFROT_FORCEINLINE Reg sub(Reg a, Reg b) { return _mm512_sub_pd(a, b); }
  static DFROT_FORCEINLINE Reg mul(Reg a, Reg b) { return _mm512_mul_pd(a, b); }
  static DFROT_FORCEINLINE Reg fmadd_sign(Reg a, Reg s, Reg c) { return _mm512_fmadd_pd(a, s, c); }
  static DFROT_FORCEINLINE Reg butterfly_lanes(Reg v) {
    v = _mm512_fmadd_pd(v, _mm512_setr_pd(1, -1, 1, -1, 1, -1, 1, -1), _mm512_mask_permute_pd(v, 0xFF, v, 0x55));
    v = _mm512_fmadd_pd(v, _mm512_setr_pd(1, 1, -1, -1, 1, 1, -1, -1),
                        _mm512_mask_shuffle_f64x2(v, 0xFF, v, v, 0xB1));
    v = _mm512_fmadd_pd(v, _mm512_setr_pd(1, 1, 1, 1, -1, -1, -1, -1),
                        _mm512_mask_shuffle_f64x2(v, 0xFF, v, v, 0x4E));
    return v;
  }
};

}  // namespace dfrot::simd::avx512
DFROT_TARGET_POP
#endif
