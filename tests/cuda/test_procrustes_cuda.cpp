// SPDX-License-Identifier: Apache-2.0
// CudaProcrustesBackend against the CPU backend (EigenProcrustesBackend) on the same rows: per-row
// 4-bit errors, the weighted cross product and the polar factor within the documented tolerances
// (float32 products summed in a different order; float64 SVDs).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <Eigen/QR>

#include "dfrot/core/rng.hpp"
#include "dfrot/rotation/cuda/cuda_procrustes_backend.hpp"
#include "dfrot/rotation/procrustes_backend.hpp"

using namespace dfrot;
using namespace dfrot::rotation;

TEST_CASE("cuda Procrustes backend: errors, cross product and polar factor equal the CPU backend's") {
  std::size_t const n = 5000, d = 96;
  Rng rng(7);
  std::vector<float> rows(n * d);
  for (auto& v : rows) v = static_cast<float>(rng.normal());
  for (std::size_t t = 0; t < n; t += 997) rows[t * d + 3] = 300.0f;  // a few massive tokens
  std::vector<double> weights(n, 1.0);
  for (std::size_t t = 0; t < n; t += 997) weights[t] = 100.0;
  Eigen::MatrixXd g(static_cast<Eigen::Index>(d), static_cast<Eigen::Index>(d));
  for (Eigen::Index i = 0; i < g.size(); ++i) g.data()[i] = rng.normal();
  Eigen::MatrixXd const c = orthonormalize_qr(g);

  MatrixView<float const> const view(rows.data(), n, d);
  EigenProcrustesBackend cpu(1, 2048);
  rotation::cuda::CudaProcrustesBackend gpu(2048);
  cpu.bind(view, weights, 4);
  gpu.bind(view, weights, 4);
  ProcrustesEvaluation e_cpu, e_gpu;
  cpu.evaluate(c, true, e_cpu);
  gpu.evaluate(c, true, e_gpu);
  REQUIRE(e_gpu.row_sq_error.size() == n);
  double worst = 0;
  for (std::size_t t = 0; t < n; ++t)
    worst = std::max(worst, std::abs(e_gpu.row_sq_error[t] - e_cpu.row_sq_error[t]) / (e_cpu.row_sq_error[t] + 1e-12));
  CHECK(worst < 1e-4);  // Y = A0·C in float32 by two GEMMs: an element can round differently
  double const cross_err = (e_gpu.cross - e_cpu.cross).norm() / e_cpu.cross.norm();
  CHECK(cross_err < 1e-5);
  Eigen::MatrixXd const p_gpu = gpu.polar(e_cpu.cross), p_cpu = cpu.polar(e_cpu.cross);
  CHECK((p_gpu - p_cpu).cwiseAbs().maxCoeff() < 1e-9);
  CHECK((p_gpu.transpose() * p_gpu - Eigen::MatrixXd::Identity(p_gpu.rows(), p_gpu.cols())).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("cuda Procrustes backend: bad input gives clear errors") {
  rotation::cuda::CudaProcrustesBackend gpu;
  ProcrustesEvaluation e;
  CHECK_THROWS_AS(gpu.evaluate(Eigen::MatrixXd::Identity(4, 4), false, e), UsageError);  // before bind
  std::vector<float> rows(8 * 4, 1.0f);
  std::vector<double> w(8, 1.0);
  gpu.bind(MatrixView<float const>(rows.data(), 8, 4), w, 4);
  CHECK_THROWS_AS(gpu.evaluate(Eigen::MatrixXd::Identity(5, 5), false, e), ShapeError);
  rows[5] = NAN;
  gpu.bind(MatrixView<float const>(rows.data(), 8, 4), w, 4);
  CHECK_THROWS_AS(gpu.evaluate(Eigen::MatrixXd::Identity(4, 4), false, e), NumericError);
  CHECK_THROWS_AS(gpu.bind(MatrixView<float const>(rows.data(), 8, 4), std::vector<double>(3, 1.0), 4), ShapeError);
}
