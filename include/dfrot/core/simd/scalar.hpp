// SPDX-License-Identifier: Apache-2.0
// Scalar "vector" of one lane: the portable level of the SIMD vocabulary used by dfrot's kernels.
#pragma once

#include <cstddef>

namespace dfrot::simd::scalar {

/// One-lane vector with the same interface as the AVX2 / AVX-512 vectors, so one kernel body
/// serves every level and the scalar path is the bit-exact oracle for the others.
template <class T>
struct Vec {
  using Element = T;
  using Reg = T;
  static constexpr std::size_t kLanes = 1;
  static Reg load(T const* p) { return *p; }
  static void store(T* p, Reg v) { *p = v; }
  static Reg set1(T v) { return v; }
  static Reg zero() { return T(0); }
  static Reg add(Reg a, Reg b) { return a + b; }
  static Reg sub(Reg a, Reg b) { return a - b; }
  static Reg mul(Reg a, Reg b) { return a * b; }
  /// a * s + c with s = ±1 (exact product, so fused or not rounds the same).
  static Reg fmadd_sign(Reg a, Reg s, Reg c) { return c + a * s; }
  /// All Walsh-Hadamard stages inside one vector (none for one lane).
  static Reg butterfly_lanes(Reg v) { return v; }
};

}  // namespace dfrot::simd::scalar
