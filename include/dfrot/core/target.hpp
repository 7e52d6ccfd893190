// SPDX-License-Identifier: Apache-2.0
// Pragma regions that compile a block of kernels for one x86 ISA while the rest of the program stays
// at the baseline target. Never put an #include inside a region.
#pragma once

#include "dfrot/config.hpp"

#if DFROT_X86
#define DFROT_TARGET_PUSH_AVX2 \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c\")")
#define DFROT_TARGET_PUSH_AVX512 \
  _Pragma("GCC push_options")    \
      _Pragma("GCC target(\"avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq\")")
#define DFROT_TARGET_PUSH_AVX512VNNI \
  _Pragma("GCC push_options")        \
      _Pragma("GCC target(\"avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni\")")
#define DFROT_TARGET_POP _Pragma("GCC pop_options")
#endif
