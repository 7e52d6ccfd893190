// SPDX-License-Identifier: Apache-2.0
// Pragma regions that compile a block of kernels for one x86 ISA while the rest of the program stays
// at the baseline target. Never put an #include inside a region.
#pragma once

#include "dfrot/config.hpp"

#if DFROT_X86 && defined(__clang__)
// clang has no GCC target regions: apply the target attribute to every function in the region.
#define DFROT_TARGET_PUSH_AVX2 \
  _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c\"))), apply_to = function)")
// (_Pragma takes one string literal: these lines cannot be split.)
#define DFROT_TARGET_PUSH_AVX512 _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq\"))), apply_to = function)")
#define DFROT_TARGET_PUSH_AVX512VNNI _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni\"))), apply_to = function)")
#define DFROT_TARGET_PUSH_AMX _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,amx-tile,amx-int8\"))), apply_to = function)")
#define DFROT_TARGET_POP _Pragma("clang attribute pop")
#elif DFROT_X86
#define DFROT_TARGET_PUSH_AVX2 \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c\")")
#define DFROT_TARGET_PUSH_AVX512 \
  _Pragma("GCC push_options")    \
      _Pragma("GCC target(\"avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq\")")
#define DFROT_TARGET_PUSH_AVX512VNNI \
  _Pragma("GCC push_options")        \
      _Pragma("GCC target(\"avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni\")")
#define DFROT_TARGET_PUSH_AMX \
  _Pragma("GCC push_options")  \
      _Pragma("GCC target(\"avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,amx-tile,amx-int8\")")
#define DFROT_TARGET_POP _Pragma("GCC pop_options")
#endif
