// SPDX-License-Identifier: Apache-2.0
// Rng: a seeded, platform-independent generator (xoshiro256**, seeded by splitmix64).
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

namespace dfrot {

/// Deterministic random numbers: the same seed gives the same stream on every platform (the
/// Gaussian path uses libm log/cos/sin, which are correctly rounded in practice on glibc).
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) {
    std::uint64_t x = seed;
    for (auto& word : state_) word = splitmix64(x);
  }

  /// Uniform 64-bit word.
  std::uint64_t next_u64() {
    std::uint64_t const result = rotl(state_[1] * 5, 7) * 9;
    std::uint64_t const t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  /// Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

  /// Uniform integer in [0, n) (n > 0), without modulo bias.
  std::uint64_t uniform_int(std::uint64_t n) {
    std::uint64_t const limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
    std::uint64_t x;
    do x = next_u64(); while (x >= limit);
    return x % n;
  }

  /// +1 or -1 with equal probability.
  double rademacher() { return (next_u64() >> 63) ? 1.0 : -1.0; }

  /// Standard normal N(0, 1) by the Box-Muller transform.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    double const u2 = uniform();
    double const radius = std::sqrt(-2.0 * std::log(u1));
    double const angle = 2.0 * std::numbers::pi * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  std::uint64_t state_[4];
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace dfrot
