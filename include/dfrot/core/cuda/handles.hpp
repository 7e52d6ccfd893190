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

/// Move-only owner of a library handle H, released with Destroy (cublasDestroy, cusolverDnDestroy).
template <class H, auto Destroy>
class UniqueHandle {
 public:
  explicit UniqueHandle(H h) : h_(h) {}
  UniqueHandle(UniqueHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  UniqueHandle(UniqueHandle const&) = delete;
  UniqueHandle& operator=(UniqueHandle const&) = delete;
  UniqueHandle& operator=(UniqueHandle&&) = delete;
  ~UniqueHandle() {
    if (h_ != nullptr) Destroy(h_);
  }
  H get() const { return h_; }

 private:
  H h_ = nullptr;
};

namespace detail {
inline cublasHandle_t create_cublas() {
  cublasHandle_t h = nullptr;
  DFROT_CUBLAS_CHECK(cublasCreate(&h));
  return h;
}
inline cusolverDnHandle_t create_cusolver_dn() {
  cusolverDnHandle_t h = nullptr;
  DFROT_CUSOLVER_CHECK(cusolverDnCreate(&h));
  return h;
}
}  // namespace detail

/// A cuBLAS handle on the current device.
struct CublasHandle : UniqueHandle<cublasHandle_t, &cublasDestroy> {
  CublasHandle() : UniqueHandle(detail::create_cublas()) {}
};

/// A dense cuSOLVER handle on the current device.
struct CusolverDnHandle : UniqueHandle<cusolverDnHandle_t, &cusolverDnDestroy> {
  CusolverDnHandle() : UniqueHandle(detail::create_cusolver_dn()) {}
};

}  // namespace dfrot::cuda
