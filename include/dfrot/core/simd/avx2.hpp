// SPDX-License-Identifier: Apache-2.0
// AVX2 + FMA vectors (8 floats / 4 doubles) for dfrot's kernels; compiled inside a target region.
#pragma once

#include <cstddef>

#include "dfrot/config.hpp"
#include "dfrot/core/target.hpp"

#if DFROT_X86
#include <immintrin.h>

DFROT_TARGET_PUSH_AVX2
namespace dfrot::simd::avx2 {

template <class T>
struct Vec;

template <>
struct Vec<float> {
  using Element = float;
  using Reg = __m256;
  static constexpr std::size_t kLanes = 8;
  static DFROT_FORCEINLINE Reg load(float const* p) { return _mm256_loadu_ps(p); }
  static DFROT_FORCEINLINE void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static DFROT_FORCEINLINE Reg set1(float v) { return _mm256_set1_ps(v); }
  static DFROT_FORCEINLINE Reg zero() { return _mm256_setzero_ps(); }
  static DFROT_FORCEINLINE Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static DFROT_FORCEINLINE Reg sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static DFROT_FORCEINLINE Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static DFROT_FORCEINLINE Reg fmadd_sign(Reg a, Reg s, Reg c) { return _mm256_fmadd_ps(a, s, c); }
  /// Stages h = 1, 2, 4 in order: lane i becomes sign_i * v[i] + v[i ^ h], sign = -1 where i & h.
  static DFROT_FORCEINLINE Reg butterfly_lanes(Reg v) {
    v = _mm256_fmadd_ps(v, _mm256_setr_ps(1, -1, 1, -1, 1, -1, 1, -1), _mm256_permute_ps(v, 0xB1));
    v = _mm256_fmadd_ps(v, _mm256_setr_ps(1, 1, -1, -1, 1, 1, -1, -1), _mm256_permute_ps(v, 0x4E));
    v = _mm256_fmadd_ps(v, _mm256_setr_ps(1, 1, 1, 1, -1, -1, -1, -1),
                        _mm256_permute2f128_ps(v, v, 0x01));
    return v;
  }
};

template <>
struct Vec<double> {
  using Element = double;
  using Reg = __m256d;
  static constexpr std::size_t kLanes = 4;
  static DFROT_FORCEINLINE Reg load(double const* p) { return _mm256_loadu_pd(p); }
  static DFROT_FORCEINLINE void store(double* p, Reg v) { _mm256_storeu_pd(p, v); }
  static DFROT_FORCEINLINE Reg set1(double v) { return _mm256_set1_pd(v); }
  static DFROT_FORCEINLINE Reg zero() { return _mm256_setzero_pd(); }
  static DFROT_FORCEINLINE Reg add(Reg a, Reg b) { return _mm256_add_pd(a, b); }
  static DFROT_FORCEINLINE Reg sub(Reg a, Reg b) { return _mm256_sub_pd(a, b); }
  static DFROT_FORCEINLINE Reg mul(Reg a, Reg b) { return _mm256_mul_pd(a, b); }
  static DFROT_FORCEINLINE Reg fmadd_sign(Reg a, Reg s, Reg c) { return _mm256_fmadd_pd(a, s, c); }
  static DFROT_FORCEINLINE Reg butterfly_lanes(Reg v) {
    v = _mm256_fmadd_pd(v, _mm256_setr_pd(1, -1, 1, -1), _mm256_permute_pd(v, 0x5));
    v = _mm256_fmadd_pd(v, _mm256_setr_pd(1, 1, -1, -1), _mm256_permute2f128_pd(v, v, 0x01));
    return v;
  }
};

}  // namespace dfrot::simd::avx2
DFROT_TARGET_POP
#endif
