// SPDX-License-Identifier: Apache-2.0
// RandomHadamardRotation: QuaRot's randomized Hadamard Q = diag(s)·T_dᵀ with seeded random signs.
#pragma once

#include <cstdint>
#include <vector>

#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/rng.hpp"
#include "dfrot/hadamard/hadamard_transform.hpp"
#include "dfrot/rotation/rotation.hpp"
#include "dfrot/rotation/signed_hadamard.hpp"

namespace dfrot::rotation {

/// The d random signs s_i ∈ {−1, +1} of the randomized Hadamard for `seed`.
inline std::vector<double> random_signs(std::size_t d, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<double> s(d);
  for (double& v : s) v = rng.rademacher();
  return s;
}

/// Q = diag(s)·T_dᵀ (ALGORITHMS.md §2): row i of Q is s_i times row i of Tᵀ, computed by the
/// butterfly in float64. d must be K·2^m (or pass Fallback::kBlockDiagonal).
class RandomHadamardRotation final : public RotationGenerator {
 public:
  explicit RandomHadamardRotation(std::uint64_t seed,
                                  hadamard::Fallback fallback = hadamard::Fallback::kNone)
      : seed_(seed), fallback_(fallback) {}

  std::string name() const override { return "hadamard"; }

  Rotation generate(std::size_t d) const override {
    SignedHadamard const q = factored(d);
    return {q.dense(), "hadamard", seed_,
            str_cat("randomized Hadamard diag(s)·Tᵀ, seed ", seed_, ", ", q.transform().description())};
  }

  /// The same Q in factored form (applied to weights by the butterfly, never formed).
  SignedHadamard factored(std::size_t d) const {
    (void)hadamard::HadamardTransform(d, fallback_);  // the size check before d signs are drawn
    return SignedHadamard(random_signs(d, seed_), fallback_);
  }

 private:
  std::uint64_t seed_;
  hadamard::Fallback fallback_;
};

}  // namespace dfrot::rotation
