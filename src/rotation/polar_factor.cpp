// SPDX-License-Identifier: Apache-2.0
#include "dfrot/rotation/polar_factor.hpp"

#include <Eigen/SVD>

#include "dfrot/core/error.hpp"

namespace dfrot::rotation {

Eigen::MatrixXd polar_factor(Eigen::MatrixXd const& m) {
  DFROT_THROW_IF(m.rows() != m.cols() || m.rows() == 0, ShapeError,
                 "polar_factor: expected a non-empty square matrix, got ", m.rows(), "x", m.cols());
  DFROT_THROW_IF(!m.allFinite(), NumericError, "polar_factor: the cross product Y^T B contains "
                 "NaN or Inf");
  Eigen::BDCSVD<Eigen::MatrixXd> const svd(m, Eigen::ComputeFullU | Eigen::ComputeFullV);
  DFROT_THROW_IF(svd.info() != Eigen::Success, NumericError, "polar_factor: the ", m.rows(), "x",
                 m.cols(), " SVD did not converge");
  return svd.matrixU() * svd.matrixV().transpose();
}

}  // namespace dfrot::rotation
