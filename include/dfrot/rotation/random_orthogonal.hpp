// SPDX-License-Identifier: Apache-2.0
// RandomOrthogonalRotation: a Haar-distributed orthogonal matrix (QR of a Gaussian, sign-fixed).
#pragma once

#include <cstdint>

#include <Eigen/QR>

#include "dfrot/core/rng.hpp"
#include "dfrot/rotation/rotation.hpp"

namespace dfrot::rotation {

/// Q from G = Q·R with G i.i.d. N(0, 1) in float64, then Q ← Q·diag(sign(diag R)) so that Q is
/// Haar-distributed (ALGORITHMS.md §2; DFRot's optimizer script omits the sign fix, we do not).
inline Eigen::MatrixXd haar_orthogonal(std::size_t d, std::uint64_t seed) {
  DFROT_THROW_IF(d == 0, ShapeError, "random orthogonal rotation: size 0");
  Eigen::Index const n = static_cast<Eigen::Index>(d);
  Rng rng(seed);
  Eigen::MatrixXd g(n, n);
  for (Eigen::Index c = 0; c < n; ++c) {
    for (Eigen::Index r = 0; r < n; ++r) g(r, c) = rng.normal();
  }
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
  Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(n, n);
  Eigen::MatrixXd const& r = qr.matrixQR();  // R is its upper triangle
  for (Eigen::Index i = 0; i < n; ++i) {
    if (r(i, i) < 0) q.col(i) *= -1.0;
  }
  return q;
}

class RandomOrthogonalRotation final : public RotationGenerator {
 public:
  explicit RandomOrthogonalRotation(std::uint64_t seed) : seed_(seed) {}
  std::string name() const override { return "random"; }
  Rotation generate(std::size_t d) const override {
    return {haar_orthogonal(d, seed_), "random", seed_,
            str_cat("random orthogonal (Haar, QR of Gaussian with sign fix), seed ", seed_)};
  }

 private:
  std::uint64_t seed_;
};

}  // namespace dfrot::rotation
