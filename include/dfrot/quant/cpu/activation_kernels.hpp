// SPDX-License-Identifier: Apache-2.0
// ActivationKernels<I>: the activation quantization kernel set of one ISA level, for dispatch_isa.
#pragma once

#include "dfrot/core/dispatch.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/quant/cpu/activation_kernels_avx2.hpp"
#include "dfrot/quant/cpu/activation_kernels_avx512.hpp"
#include "dfrot/quant/cpu/activation_kernels_scalar.hpp"

namespace dfrot::quant::cpu {

/// Levels the activation kernels implement (AVX-512 VNNI falls back to AVX-512).
inline constexpr IsaSet kActivationIsas =
#if DFROT_X86
    kIsaSet<Isa::kAvx2, Isa::kAvx512>;
#else
    kIsaSet<>;
#endif

/// Output mode of the activation kernels (the same enum in every ISA namespace).
using ActMode = scalar::ActMode;

template <Isa I>
struct ActivationKernels;

template <>
struct ActivationKernels<Isa::kScalar> {
  template <bool kAsym, ActMode kMode, class... Args>
  static std::size_t rows(Args... args) {
    return scalar::act_rows<scalar::Ops, kAsym,
                            static_cast<scalar::ActMode>(static_cast<int>(kMode))>(args...);
  }
  template <bool kAsym, class... Args>
  static bool gemm_row(Args... args) {
    return scalar::act_row_gemm<scalar::Ops, kAsym>(args...);
  }
};

#if DFROT_X86
template <>
struct ActivationKernels<Isa::kAvx2> {
  template <bool kAsym, ActMode kMode, class... Args>
  static std::size_t rows(Args... args) {
    return avx2::act_rows<avx2::Ops, kAsym, static_cast<avx2::ActMode>(static_cast<int>(kMode))>(
        args...);
  }
  template <bool kAsym, class... Args>
  static bool gemm_row(Args... args) {
    return avx2::act_row_gemm<avx2::Ops, kAsym>(args...);
  }
};

template <>
struct ActivationKernels<Isa::kAvx512> {
  template <bool kAsym, ActMode kMode, class... Args>
  static std::size_t rows(Args... args) {
    return avx512::act_rows<avx512::Ops, kAsym,
                            static_cast<avx512::ActMode>(static_cast<int>(kMode))>(args...);
  }
  template <bool kAsym, class... Args>
  static bool gemm_row(Args... args) {
    return avx512::act_row_gemm<avx512::Ops, kAsym>(args...);
  }
};
#endif

}  // namespace dfrot::quant::cpu
