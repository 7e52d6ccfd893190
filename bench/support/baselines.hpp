// SPDX-License-Identifier: Apache-2.0
// Same-run baselines for ratio reporting: memcpy of the same bytes, Eigen SGEMM of the same shape.
#pragma once

#include <cstddef>
#include <functional>

namespace dfrot::bench {

/// Median wall time in seconds of `reps` calls of `fn` after one warm-up call.
double median_seconds(std::function<void()> const& fn, int reps = 7);

/// Median seconds of memcpy(dst, src, bytes) between two distinct buffers of `bytes` (cached per
/// size for the process, so every benchmark of a run divides by the same measurement).
double memcpy_seconds(std::size_t bytes);

/// GFLOP/s of Eigen SGEMM C(m×n) = A(m×k)·B(k×n) (AVX2+FMA build) on `threads` threads, cached
/// per shape and thread count.
double eigen_sgemm_gflops(std::size_t m, std::size_t n, std::size_t k, int threads = 1);

}  // namespace dfrot::bench
