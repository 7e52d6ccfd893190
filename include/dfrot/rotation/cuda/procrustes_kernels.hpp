// SPDX-License-Identifier: Apache-2.0
// The two device steps of the CUDA Procrustes backend, as host-callable launchers. The kernels are
// compiled once (src/rotation/cuda/procrustes_kernels.cu, in dfrot::cuda), so the backend itself is
// host C++ and its users never put Eigen through nvcc (several front-end passes per architecture).
#pragma once

#include <cstddef>

#include <cuda_runtime.h>

namespace dfrot::rotation::cuda {

/// For each of the `rows` rows of Y [rows × d] (device, row-major): B = Qz(Y) by the CPU
/// activation quantizer's arithmetic (per-token symmetric absmax scale = max|y|/maxq, x/scale
/// rounded half to even, clamped to [qmin, qmax], times scale; a zero row keeps scale 1),
/// row_sq_error[r] = Σ (y − b)² in float64, and, when `scale_rows`, B's row r times weight[r].
/// Sets *bad to 1 when a row holds NaN/Inf. Asynchronous on `stream`; launch errors throw.
void launch_quantize_rows(float const* y, float* b, std::size_t rows, std::size_t d, float const* weight,
                          bool scale_rows, float maxq, float qmin, float qmax, double* row_sq_error, int* bad,
                          cudaStream_t stream = nullptr);

/// acc[i] += double(x[i]) for i < n (device pointers): the float64 sum of per-block products.
void launch_accumulate(double* acc, float const* x, std::size_t n, cudaStream_t stream = nullptr);

}  // namespace dfrot::rotation::cuda
