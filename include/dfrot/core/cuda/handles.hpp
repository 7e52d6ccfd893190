// SPDX-License-Identifier: Apache-2.0
// RAII cuBLAS and cuSOLVER (dense) handles, and checks that turn their failed calls into
// dfrot::CudaError (host code only).
#pragma once

#include <utility>

#include <cublas_v2.h>
#include <cusolverDn.h>

#include "dfrot/core/error.hpp"

#define DFROT_CUBLAS_CHECK(expr)                                                                 \
  do {                                                                                           \
    cublasStatus_t const dfrot_cublas_status_ = (expr);                                          \
    if (dfrot_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                           \
      throw ::dfrot::CudaError(::dfrot::str_cat(#expr, " failed at ", __FILE__, ":", __LINE__,   \
                                                ": cuBLAS status ", static_cast<int>(dfrot_cublas_status_))); \
  } while (0)

#define DFROT_CUSOLVER_CHECK(expr)                                                               \
  do {                                                                                           \
    cusolverStatus_t const dfrot_cusolver_status_ = (expr);                                      \
    if (dfrot_cusolver_status_ != CUSOLVER_STATUS_SUCCESS)                                       \
      throw ::dfrot::CudaError(::dfrot::str_cat(#expr, " failed at ", __FILE__, ":", __LINE__,   \
                                                ": cuSOLVER status ", static_cast<int>(dfrot_cusolver_status_))); \
  } while (0)

namespace dfrot::cuda {

class CublasHandle {
 public:
  CublasHandle() { DFROT_CUBLAS_CHECK(cublasCreate(&h_)); }
  CublasHandle(CublasHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  CublasHandle(CublasHandle const&) = delete;
  CublasHandle& operator=(CublasHandle const&) = delete;
  CublasHandle& operator=(CublasHandle&&) = delete;
  ~CublasHandle() {
    if (h_ != nullptr) cublasDestroy(h_);
  }
  cublasHandle_t get() const { return h_; }

 private:
  cublasHandle_t h_ = nullptr;
};

class CusolverDnHandle {
 public:
  CusolverDnHandle() { DFROT_CUSOLVER_CHECK(cusolverDnCreate(&h_)); }
  CusolverDnHandle(CusolverDnHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  CusolverDnHandle(CusolverDnHandle const&) = delete;
  CusolverDnHandle& operator=(CusolverDnHandle const&) = delete;
  CusolverDnHandle& operator=(CusolverDnHandle&&) = delete;
  ~CusolverDnHandle() {
    if (h_ != nullptr) cusolverDnDestroy(h_);
  }
  cusolverDnHandle_t get() const { return h_; }

 private:
  cusolverDnHandle_t h_ = nullptr;
};

}  // namespace dfrot::cuda
