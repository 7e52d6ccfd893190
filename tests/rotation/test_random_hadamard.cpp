// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <cmath>

#include "dfrot/hadamard/hadamard_transform.hpp"
#include "dfrot/rotation/make_rotation.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::rotation;

TEST_SUITE("rotation") {
  TEST_CASE("RandomHadamardRotation: Q = diag(s)·Tᵀ, orthogonal to 1e-12, seeded") {
    for (std::size_t d : {64u, 576u, 20u * 8u, 172u * 2u}) {
      CAPTURE(d);
      RandomHadamardRotation const gen(42);
      Rotation const r = gen.generate(d);
      REQUIRE(r.size() == d);
      CHECK(orthogonality_error(r.matrix) <= 1e-12);
      auto const s = random_signs(d, 42);
      auto const t = hadamard::HadamardTransform(d).dense(hadamard::Transpose::kYes);  // Tᵀ
      double worst = 0;
      for (std::size_t i = 0; i < d; ++i) {
        for (std::size_t j = 0; j < d; ++j) {
          worst = std::max(worst, std::abs(r.matrix(Eigen::Index(i), Eigen::Index(j)) - s[i] * t[i * d + j]));
        }
      }
      CHECK(worst == 0.0);
      // Deterministic in the seed, different across seeds.
      CHECK(RandomHadamardRotation(42).generate(d).matrix == r.matrix);
      CHECK(RandomHadamardRotation(43).generate(d).matrix != r.matrix);
    }
  }

  TEST_CASE("RandomHadamardRotation: random signs are balanced and seeded") {
    auto const s = random_signs(4096, 1);
    double sum = 0;
    for (double v : s) {
      CHECK((v == 1.0 || v == -1.0));
      sum += v;
    }
    CHECK(std::abs(sum) < 4 * std::sqrt(4096.0));  // within 4 sigma
  }

  TEST_CASE("RandomOrthogonalRotation: Haar QR with sign fix, orthogonal to 1e-12, seeded") {
    for (std::size_t d : {1u, 7u, 64u, 300u}) {
      CAPTURE(d);
      Rotation const r = RandomOrthogonalRotation(5).generate(d);
      CHECK(orthogonality_error(r.matrix) <= 1e-12);
      CHECK(RandomOrthogonalRotation(5).generate(d).matrix == r.matrix);
    }
    // The sign fix makes Q independent of QR's sign convention: Q·R = G with diag(R) > 0, so the
    // first column of Q is the normalized first column of G.
    std::size_t const d = 16;
    Rng rng(5);
    Eigen::VectorXd g0(static_cast<Eigen::Index>(d));
    for (std::size_t r = 0; r < d; ++r) g0(Eigen::Index(r)) = rng.normal();  // column 0 comes first
    Eigen::MatrixXd const q = haar_orthogonal(d, 5);
    CHECK((q.col(0) - g0.normalized()).cwiseAbs().maxCoeff() <= 1e-12);
  }

  TEST_CASE("RandomOrthogonalRotation: the distribution is rotation-invariant in its moments") {
    // Haar: E[Q_ij] = 0 and E[Q_ij²] = 1/d. Average over seeds for one entry.
    std::size_t const d = 8;
    double mean = 0, second = 0;
    int const trials = 400;
    for (int s = 0; s < trials; ++s) {
      double const v = haar_orthogonal(d, std::uint64_t(s))(3, 5);
      mean += v;
      second += v * v;
    }
    mean /= trials;
    second /= trials;
    CHECK(std::abs(mean) < 0.06);
    CHECK(std::abs(second - 1.0 / d) < 0.03);
  }

  TEST_CASE("make_rotation_generator: names and errors") {
    CHECK(make_rotation_generator("none", 0)->name() == "identity");
    CHECK(make_rotation_generator("rh", 0)->name() == "hadamard");
    CHECK(make_rotation_generator("ro", 0)->name() == "random");
    CHECK(make_rotation_generator("identity", 0)->generate(3).matrix == Eigen::MatrixXd::Identity(3, 3));
    CHECK_THROWS_WITH_AS(make_rotation_generator("spin", 0), doctest::Contains("rotation 'spin'"),
                         UsageError);
    CHECK_THROWS_AS(RandomHadamardRotation(0).generate(13696), ShapeError);
    CHECK(orthogonality_error(
              RandomHadamardRotation(0, hadamard::Fallback::kBlockDiagonal).generate(7 * 64).matrix) <=
          1e-12);
  }
}
