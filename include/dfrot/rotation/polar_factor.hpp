// SPDX-License-Identifier: Apache-2.0
// The orthogonal polar factor of a square matrix: the SVD step of orthogonal Procrustes.
// Compiled once (src/rotation/polar_factor.cpp, target dfrot::compiled) instead of inline: Eigen's
// BDCSVD costs ~20 s of compile time in every translation unit that instantiates it.
#pragma once

#include <Eigen/Core>

namespace dfrot::rotation {

/// The orthogonal polar factor P = U·Vᵀ of M = U·Σ·Vᵀ (float64 divide-and-conquer SVD):
/// argmin over orthogonal P of ‖Y·P − B‖_F when M = Yᵀ·B (orthogonal Procrustes).
/// \throws ShapeError for a non-square M, NumericError for non-finite M or a failed SVD.
Eigen::MatrixXd polar_factor(Eigen::MatrixXd const& m);

}  // namespace dfrot::rotation
