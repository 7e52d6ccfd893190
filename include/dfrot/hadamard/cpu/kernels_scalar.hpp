// SPDX-License-Identifier: Apache-2.0
// Scalar level of the Walsh-Hadamard kernels (the bit-exact oracle of the SIMD levels).
#pragma once

#include <bit>
#include <cstddef>

#include "dfrot/core/simd/scalar.hpp"

namespace dfrot::hadamard::cpu::scalar {
template <class T>
using Vec = simd::scalar::Vec<T>;
#include "dfrot/hadamard/cpu/hadamard_kernels.inl"
}  // namespace dfrot::hadamard::cpu::scalar
