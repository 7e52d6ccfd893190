// SPDX-License-Identifier: Apache-2.0
// AVX512 level of the Walsh-Hadamard kernels, compiled in a target region for runtime dispatch.
#pragma once

#include <bit>
#include <cstddef>

#include "dfrot/config.hpp"
#include "dfrot/core/simd/avx512.hpp"
#include "dfrot/core/target.hpp"

#if DFROT_X86
DFROT_TARGET_PUSH_AVX512
namespace dfrot::hadamard::cpu::avx512 {
template <class T>
using Vec = simd::avx512::Vec<T>;
#include "dfrot/hadamard/cpu/hadamard_kernels.inl"
}  // namespace dfrot::hadamard::cpu::avx512
DFROT_TARGET_POP
#endif
