// SPDX-License-Identifier: Apache-2.0
// Rotation and RotationGenerator: the common interface of every orthogonal matrix dfrot fuses into
// weights (identity, randomized Hadamard, random orthogonal; later Procrustes and Cayley-SGD).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <Eigen/Core>

#include "dfrot/core/error.hpp"

namespace dfrot::rotation {

/// A d×d orthogonal matrix Q (float64) with what produced it. QuaRot convention: the residual
/// stream x becomes x·Q, so weights reading it become W·Q and weights writing it Qᵀ·W.
struct Rotation {
  Eigen::MatrixXd matrix;
  std::string kind;  ///< "identity", "hadamard", "random", …
  std::uint64_t seed = 0;
  std::string description;

  std::size_t size() const { return static_cast<std::size_t>(matrix.rows()); }
};

/// max |QᵀQ − I| (0 for an exactly orthogonal matrix).
inline double orthogonality_error(Eigen::MatrixXd const& q) {
  Eigen::MatrixXd const e = q.transpose() * q - Eigen::MatrixXd::Identity(q.cols(), q.cols());
  return e.cwiseAbs().maxCoeff();
}

/// Makes rotations of any supported size. Implementations are deterministic given their seed.
class RotationGenerator {
 public:
  virtual ~RotationGenerator() = default;
  /// Short name used on the command line ("identity", "hadamard", "random").
  virtual std::string name() const = 0;
  /// A d×d rotation. \throws ShapeError when d is unsupported.
  virtual Rotation generate(std::size_t d) const = 0;
};

}  // namespace dfrot::rotation
