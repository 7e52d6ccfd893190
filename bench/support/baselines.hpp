// SPDX-License-Identifier: Apache-2.0
// Same-run baselines for ratio reporting: memcpy and a plain read of the same bytes, Eigen SGEMM
// and GEMV of the same shape. Each is measured once per shape and process (cached), so every
// benchmark of a run divides by the same measurement.
#pragma once

#include <cstddef>
#include <functional>

namespace dfrot::bench {

/// Median wall time in seconds of `reps` calls of `fn` after one warm-up call.
double median_seconds(std::function<void()> const& fn, int reps = 7);

/// Median seconds per call of `fn` where each of the `reps` samples runs `fn` back to back for at
/// least `min_sample_seconds` (for calls of microseconds, where one call is below timer noise).
double median_seconds_per_call(std::function<void()> const& fn, double min_sample_seconds = 0.02,
                               int reps = 7);

/// Median seconds of memcpy(dst, src, bytes) between two distinct buffers of `bytes` (cached per
/// size for the process, so every benchmark of a run divides by the same measurement).
double memcpy_seconds(std::size_t bytes);

/// Median seconds to read one buffer of `bytes` once with 256-bit loads (AVX2 build; a read-only
/// stream, the ceiling of a kernel whose traffic is one pass over `bytes`). Repeated reads of a
/// buffer that fits a cache level measure that level, as do repeated kernel calls on the same
/// weights; pass ≥ 8× L3 for DRAM. Cached per size.
double read_seconds(std::size_t bytes);

/// GFLOP/s of Eigen SGEMM C(m×n) = A(m×k)·B(k×n) (AVX2+FMA build) on `threads` threads, cached
/// per shape and thread count.
double eigen_sgemm_gflops(std::size_t m, std::size_t n, std::size_t k, int threads = 1);

/// Median seconds of Eigen SGEMM Y = X·Wᵀ with X row-major [m × k], W row-major [n × k] and Y
/// row-major [m × n] (the layout of a linear layer: tokens × features, weights out × in), AVX2+FMA
/// build, `threads` threads. Eigen runs m = 1 as a GEMV. Cached per shape and thread count.
double eigen_sgemm_xwt_seconds(std::size_t m, std::size_t n, std::size_t k, int threads = 1);

/// Median seconds of Eigen's FP32 GEMV y[n] = W·x with W row-major [n × k] (one decode token),
/// AVX2+FMA build, `threads` threads. Cached per shape and thread count.
double eigen_gemv_seconds(std::size_t n, std::size_t k, int threads = 1);

}  // namespace dfrot::bench
