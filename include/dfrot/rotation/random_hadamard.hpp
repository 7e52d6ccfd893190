// SPDX-License-Identifier: Apache-2.0
// RandomHadamardRotation: QuaRot's randomized Hadamard Q = diag(s)·T_dᵀ with seeded random signs.
#pragma once

#include <cstdint>
#include <vector>

#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/rng.hpp"
#include "dfrot/hadamard/hadamard_transform.hpp"
#include "dfrot/rotation/rotation.hpp"

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
    hadamard::HadamardTransform const t(d, fallback_);
    std::vector<double> const s = random_signs(d, seed_);
    Eigen::Index const n = static_cast<Eigen::Index>(d);
    // Row-major buffer: row i starts as s_i·e_i; apply_rows maps each row u to T·u, so row i
    // becomes s_i·(T e_i)ᵀ = s_i · (row i of Tᵀ).
    std::vector<double> rows(d * d, 0.0);
    for (std::size_t i = 0; i < d; ++i) rows[i * d + i] = s[i];
    t.apply_rows(MatrixView<double>(rows.data(), d, d));
    Eigen::MatrixXd q = Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic,
                                                 Eigen::RowMajor>>(rows.data(), n, n);
    return {std::move(q), "hadamard", seed_,
            str_cat("randomized Hadamard diag(s)·Tᵀ, seed ", seed_, ", ", t.description())};
  }

 private:
  std::uint64_t seed_;
  hadamard::Fallback fallback_;
};

}  // namespace dfrot::rotation
