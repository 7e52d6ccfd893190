// SPDX-License-Identifier: Apache-2.0
// Optional oneDNN int8 matmul baseline (Debian libdnnl-dev; compiled when CMake finds it, then
// DFROT_BENCH_HAVE_DNNL is defined). Without oneDNN every function here reports "not available",
// so the benchmarks just omit their x_onednn counter.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace dfrot::bench {

/// Median seconds of oneDNN's int8 matmul Y[m × n] = scale[n]·(A·B) with A u8 [m × k] row-major
/// (activation codes), B s8 [k × n] (weights, given as [n × k] row-major and reordered once to the
/// primitive's preferred blocked layout outside the timing) and FP32 output with per-column
/// output scales, on 1 thread (OpenMP threads capped at 1 around creation and execution). Cached
/// per shape; std::nullopt when the benchmarks were built without oneDNN.
std::optional<double> onednn_int8_matmul_seconds(std::size_t m, std::size_t n, std::size_t k);

/// "oneDNN <version> (<cpu isa>)", or empty when not built with oneDNN.
std::string onednn_description();

}  // namespace dfrot::bench
