// SPDX-License-Identifier: Apache-2.0
// Test helpers: seed, random vectors, shared data folder, ISA loop, float comparisons.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "dfrot/core/isa.hpp"
#include "dfrot/core/rng.hpp"

namespace dfrot::test {

/// Base seed of random tests: DFROT_TEST_SEED or 20241124.
inline std::uint64_t seed() {
  char const* env = std::getenv("DFROT_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 20241124ull;
}

/// The team data folder (../shared): DFROT_SHARED_DIR env, else the CMake default. Empty path when
/// it does not exist; tests that need it skip with a message.
inline std::filesystem::path shared_dir() {
  char const* env = std::getenv("DFROT_SHARED_DIR");
  std::filesystem::path p = env != nullptr ? env : DFROT_SHARED_DIR_DEFAULT;
  std::error_code ec;
  return std::filesystem::is_directory(p, ec) ? p : std::filesystem::path{};
}

/// Every level this machine can run, scalar first.
inline std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (int level = 0; level <= static_cast<int>(detected_isa()); ++level) {
    if (level <= static_cast<int>(kMaxCompiledIsa)) out.push_back(static_cast<Isa>(level));
  }
  return out;
}

/// Runs body(isa) once per available level under ScopedIsa.
template <class Body>
void for_each_isa(Body&& body) {
  for (Isa isa : available_isas()) {
    ScopedIsa scope(isa);
    body(isa);
  }
}

/// n standard-normal values from Rng(seed), converted to T.
template <class T>
std::vector<T> random_normal_vector(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<T> x(n);
  for (auto& v : x) v = static_cast<T>(rng.normal());
  return x;
}

/// Max |a_i - b_i| over two equally sized ranges.
template <class A, class B>
double max_abs_diff(A const& a, B const& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return m;
}

}  // namespace dfrot::test
