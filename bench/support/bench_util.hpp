// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the benchmark suites: seeded fill, ISA availability, manual-time loops.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>

#include <Eigen/Core>

#include "dfrot/core/aligned_buffer.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/core/rng.hpp"

namespace dfrot::bench {

/// Fills `buf` with N(0, 1) values from a fixed seed.
inline void fill_normal(AlignedBuffer<float>& buf) {
  Rng rng(1);
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<float>(rng.normal());
}

/// False (and marks the benchmark skipped) when `isa` is above what this CPU or build has.
inline bool isa_available(benchmark::State& state, Isa isa) {
  if (isa > detected_isa() || isa > kMaxCompiledIsa) {
    state.SkipWithError("ISA level not available on this CPU");
    return false;
  }
  return true;
}

/// Runs `body` once per iteration with manual timing (use with UseManualTime()); returns the mean
/// seconds per call so the caller can divide by a same-run baseline.
template <class Body>
double timed_loop(benchmark::State& state, Body&& body) {
  double total = 0;
  for (auto _ : state) {
    auto const start = std::chrono::steady_clock::now();
    body();
    benchmark::ClobberMemory();
    double const s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(s);
    total += s;
  }
  return total / static_cast<double>(state.iterations());
}

/// Sets Eigen's thread count for a scope.
class ScopedEigenThreads {
 public:
  explicit ScopedEigenThreads(int threads) : previous_(Eigen::nbThreads()) {
    Eigen::setNbThreads(threads);
  }
  ~ScopedEigenThreads() { Eigen::setNbThreads(previous_); }
  ScopedEigenThreads(ScopedEigenThreads const&) = delete;
  ScopedEigenThreads& operator=(ScopedEigenThreads const&) = delete;

 private:
  int previous_;
};

}  // namespace dfrot::bench
