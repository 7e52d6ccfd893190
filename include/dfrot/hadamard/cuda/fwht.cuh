// SPDX-License-Identifier: Apache-2.0
// CUDA fast Walsh-Hadamard transform of power-of-two rows (n <= 8192), one thread block per row.
#pragma once

#include <cstddef>

#include <cuda_runtime.h>

#include "dfrot/core/cuda/check.hpp"
#include "dfrot/core/error.hpp"

namespace dfrot::hadamard::cuda {

namespace detail {

// The row is staged in shared memory; each of the log2(n) stages pairs x[j] with x[j + h] exactly
// like the CPU kernels (same order of stages, a+b / a−b, scale at the end), so results match the
// CPU scalar level bit for bit in float32.
template <class T>
__global__ void fwht_rows_kernel(T* data, std::size_t n, std::size_t row_stride, T scale) {
  extern __shared__ unsigned char shared_bytes[];
  T* x = reinterpret_cast<T*>(shared_bytes);
  T* row = data + blockIdx.x * row_stride;
  for (std::size_t i = threadIdx.x; i < n; i += blockDim.x) x[i] = row[i];
  __syncthreads();
  for (std::size_t h = 1; h < n; h <<= 1) {
    for (std::size_t p = threadIdx.x; p < n / 2; p += blockDim.x) {
      std::size_t const j = (p / h) * 2 * h + (p % h);
      T const a = x[j];
      T const b = x[j + h];
      x[j] = a + b;
      x[j + h] = a - b;
    }
    __syncthreads();
  }
  for (std::size_t i = threadIdx.x; i < n; i += blockDim.x)
    row[i] = scale != T(1) ? x[i] * scale : x[i];
}

}  // namespace detail

/// In-place H·x (× scale) on `n_rows` device rows of length n (power of two, n <= 8192).
/// \throws ShapeError for unsupported n, CudaError when the launch fails.
template <class T>
void fwht_rows(T* device_data, std::size_t n_rows, std::size_t n, std::size_t row_stride, T scale,
               cudaStream_t stream = nullptr) {
  DFROT_THROW_IF(n == 0 || (n & (n - 1)) != 0 || n > 8192, ShapeError,
                 "cuda fwht_rows: length ", n, " is not a power of two <= 8192");
  if (n_rows == 0) return;
  unsigned const threads = n >= 512 ? 256u : static_cast<unsigned>(n / 2 > 0 ? n / 2 : 1);
  detail::fwht_rows_kernel<T><<<static_cast<unsigned>(n_rows), threads, n * sizeof(T), stream>>>(
      device_data, n, row_stride, scale);
  DFROT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace dfrot::hadamard::cuda
