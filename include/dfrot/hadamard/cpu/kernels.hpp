// SPDX-License-Identifier: Apache-2.0
// Kernels<I>: the Walsh-Hadamard kernel set of one ISA level, for dispatch_isa.
#pragma once

#include "dfrot/core/dispatch.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/hadamard/cpu/kernels_avx2.hpp"
#include "dfrot/hadamard/cpu/kernels_avx512.hpp"
#include "dfrot/hadamard/cpu/kernels_scalar.hpp"

namespace dfrot::hadamard::cpu {

/// Levels the Hadamard kernels implement. AVX-512 VNNI adds nothing for float adds, so it falls
/// back to the AVX-512 kernels.
inline constexpr IsaSet kHadamardIsas =
#if DFROT_X86
    kIsaSet<Isa::kAvx2, Isa::kAvx512>;
#else
    kIsaSet<>;
#endif

template <Isa I, class T>
struct Kernels;

template <class T>
struct Kernels<Isa::kScalar, T> {
  using V = scalar::Vec<T>;
  static void rows(T* d, std::size_t r, std::size_t n, std::size_t s, T scale) {
    scalar::fwht_rows<V>(d, r, n, s, scale);
  }
  static void hadamard_row(T const* src, T* x, std::size_t n, std::size_t k0, int levels,
                           T const* signs, T scale, T* scratch) {
    scalar::hadamard_row<V>(src, x, n, k0, levels, signs, scale, scratch);
  }
};

#if DFROT_X86
template <class T>
struct Kernels<Isa::kAvx2, T> {
  using V = avx2::Vec<T>;
  static void rows(T* d, std::size_t r, std::size_t n, std::size_t s, T scale) {
    avx2::fwht_rows<V>(d, r, n, s, scale);
  }
  static void hadamard_row(T const* src, T* x, std::size_t n, std::size_t k0, int levels,
                           T const* signs, T scale, T* scratch) {
    avx2::hadamard_row<V>(src, x, n, k0, levels, signs, scale, scratch);
  }
};

template <class T>
struct Kernels<Isa::kAvx512, T> {
  using V = avx512::Vec<T>;
  static void rows(T* d, std::size_t r, std::size_t n, std::size_t s, T scale) {
    avx512::fwht_rows<V>(d, r, n, s, scale);
  }
  static void hadamard_row(T const* src, T* x, std::size_t n, std::size_t k0, int levels,
                           T const* signs, T scale, T* scratch) {
    avx512::hadamard_row<V>(src, x, n, k0, levels, signs, scale, scratch);
  }
};
#endif

}  // namespace dfrot::hadamard::cpu
