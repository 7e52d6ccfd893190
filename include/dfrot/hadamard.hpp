// SPDX-License-Identifier: Apache-2.0
/// \file
/// Module hadamard: the fast Walsh-Hadamard transform (fwht.hpp), the special Hadamard matrices of
/// orders 12 … 172 (special_matrices.hpp) and QuaRot's T_n = (H_K ⊗ H_{n/K})/√n for n = K·2^m
/// (hadamard_transform.hpp). CPU kernels dispatch at run time: AVX-512 → AVX2 → scalar.
#pragma once

#include "dfrot/hadamard/fwht.hpp"
#include "dfrot/hadamard/hadamard_transform.hpp"
#include "dfrot/hadamard/reference.hpp"
#include "dfrot/hadamard/special_matrices.hpp"
