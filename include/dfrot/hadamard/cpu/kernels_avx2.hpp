// SPDX-License-Identifier: Apache-2.0
// AVX2 level of the Walsh-Hadamard kernels, compiled in a target region for runtime dispatch.
#pragma once

#include <bit>
#include <cstddef>

#include "dfrot/config.hpp"
#include "dfrot/core/simd/avx2.hpp"
#include "dfrot/core/target.hpp"

#if DFROT_X86
DFROT_TARGET_PUSH_AVX2
namespace dfrot::hadamard::cpu::avx2 {
template <class T>
using Vec = simd::avx2::Vec<T>;
#include "dfrot/hadamard/cpu/hadamard_kernels.inl"
}  // namespace dfrot::hadamard::cpu::avx2
DFROT_TARGET_POP
#endif
