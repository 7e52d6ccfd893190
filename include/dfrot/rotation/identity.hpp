// SPDX-License-Identifier: Apache-2.0
// IdentityRotation: Q = I (the "no rotation" baseline through the same code path).
#pragma once

#include "dfrot/rotation/rotation.hpp"

namespace dfrot::rotation {

class IdentityRotation final : public RotationGenerator {
 public:
  std::string name() const override { return "identity"; }
  Rotation generate(std::size_t d) const override {
    DFROT_THROW_IF(d == 0, ShapeError, "identity rotation: size 0");
    Eigen::Index const n = static_cast<Eigen::Index>(d);
    return {Eigen::MatrixXd::Identity(n, n), "identity", 0, str_cat("I_", d)};
  }
};

}  // namespace dfrot::rotation
