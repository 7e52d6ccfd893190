// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Core>

#include "dfrot/core/rng.hpp"
#include "dfrot/rotation/random_hadamard.hpp"
#include "dfrot/rotation/signed_hadamard.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::rotation;

namespace {
using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

RowMatrixF random_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  Rng rng(seed);
  RowMatrixF m(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(rng.normal() * 0.05);
  return m;
}
MatrixView<float> view(RowMatrixF& m) {
  return {m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())};
}
// Largest |got − want| in units of want's float spacing (float64 sums in a different order may
// land on the neighbouring float, never further).
double max_ulps(RowMatrixF const& got, Eigen::MatrixXd const& want) {
  double worst = 0;
  for (Eigen::Index r = 0; r < got.rows(); ++r) {
    for (Eigen::Index c = 0; c < got.cols(); ++c) {
      float const w = static_cast<float>(want(r, c));
      double const ulp = std::max(double(std::nextafter(std::abs(w), INFINITY) - std::abs(w)), 1e-12);
      worst = std::max(worst, std::abs(double(got(r, c)) - want(r, c)) / ulp);
    }
  }
  return worst;
}
}  // namespace

TEST_SUITE("rotation") {
  TEST_CASE("SignedHadamard: W·Q and Qᵀ·W by the butterfly equal the dense float64 products") {
    // Powers of two, K·2^m (20·8, 12·16) and more rows / columns than one buffer block.
    for (std::size_t d : {64u, 160u, 192u, 256u}) {
      CAPTURE(d);
      RandomHadamardRotation const gen(7);
      SignedHadamard const q = gen.factored(d);
      Eigen::MatrixXd const dense = gen.generate(d).matrix;
      CHECK(q.dense() == dense);
      for (int threads : {1, 2}) {
        CAPTURE(threads);
        RowMatrixF w = random_matrix(131, d, test::seed() + d);  // 131: blocks of 64 + a tail
        Eigen::MatrixXd const want_right = w.cast<double>() * dense;
        q.right_multiply(view(w), threads);
        CHECK(max_ulps(w, want_right) <= 1.0);

        RowMatrixF v = random_matrix(d, 97, test::seed() + 2 * d);
        Eigen::MatrixXd const want_left = dense.transpose() * v.cast<double>();
        q.left_multiply_transposed(view(v), threads);
        CHECK(max_ulps(v, want_left) <= 1.0);
      }
    }
  }

  TEST_CASE("SignedHadamard: refuses sizes without a Hadamard, signs other than ±1 and wrong shapes") {
    CHECK_THROWS_AS(SignedHadamard(std::vector<double>(576 / 64 * 7, 1.0)), ShapeError);  // 63
    CHECK_THROWS_AS(SignedHadamard(std::vector<double>{1.0, 0.5}), ShapeError);
    SignedHadamard const q = RandomHadamardRotation(1).factored(64);
    RowMatrixF w = random_matrix(3, 32, 1);
    CHECK_THROWS_WITH_AS(q.right_multiply(view(w)), doctest::Contains("32 columns"), ShapeError);
    CHECK_THROWS_WITH_AS(q.left_multiply_transposed(view(w)), doctest::Contains("3 rows"), ShapeError);
    CHECK_THROWS_AS((void)RandomHadamardRotation(1).factored(63), ShapeError);
  }
}
