// SPDX-License-Identifier: Apache-2.0
// Compiler portability macros used across dfrot.
#pragma once

#if defined(__CUDACC__)
#define DFROT_HOST_DEVICE __host__ __device__
#else
#define DFROT_HOST_DEVICE
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DFROT_FORCEINLINE inline __attribute__((always_inline))
#define DFROT_RESTRICT __restrict__
#else
#define DFROT_FORCEINLINE inline
#define DFROT_RESTRICT
#endif

// Highest CPU kernel level compiled into dfrot's own binaries (CMake DFROT_MAX_ISA); consumers get
// every level unless they define it: 0 scalar, 1 avx2, 2 avx512, 3 avx512vnni, 4 amx.
#ifndef DFROT_MAX_ISA_LEVEL
#define DFROT_MAX_ISA_LEVEL 4
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DFROT_X86 1
#else
#define DFROT_X86 0
#endif
