// SPDX-License-Identifier: Apache-2.0
// DFROT_CUDA_CHECK: turn a failed CUDA runtime call into a thrown dfrot::CudaError (host code only).
#pragma once

#include <cuda_runtime.h>

#include "dfrot/core/error.hpp"

#define DFROT_CUDA_CHECK(expr)                                                             \
  do {                                                                                     \
    cudaError_t const dfrot_cuda_status_ = (expr);                                         \
    if (dfrot_cuda_status_ != cudaSuccess)                                                 \
      throw ::dfrot::CudaError(::dfrot::str_cat(#expr, " failed at ", __FILE__, ":",       \
                                                __LINE__, ": ",                            \
                                                cudaGetErrorString(dfrot_cuda_status_)));  \
  } while (0)
