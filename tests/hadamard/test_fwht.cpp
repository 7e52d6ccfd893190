// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/hadamard/fwht.hpp"
#include "dfrot/hadamard/reference.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::hadamard;

TEST_SUITE("hadamard") {
  TEST_CASE("fwht: equals the dense Sylvester product for n = 1 .. 8192 (float64)") {
    for (std::size_t n = 1; n <= 8192; n *= 2) {
      CAPTURE(n);
      auto x = test::random_normal_vector<double>(n, test::seed() + n);
      auto const expected = reference::transform(1, n, x);  // H·x/√n
      auto unnormalized = x;
      fwht(std::span<double>(x), Normalize::kOrthonormal);
      CHECK(test::max_abs_diff(x, expected) <= 1e-13 * std::log2(double(n) + 2));
      fwht(std::span<double>(unnormalized));  // H·x: the same up to the factor √n
      for (std::size_t i = 0; i < n; ++i)
        CHECK(std::abs(unnormalized[i] - expected[i] * std::sqrt(double(n))) <=
              1e-12 * std::sqrt(double(n)));
    }
  }

  TEST_CASE("fwht: n = 32768 matches dense rows on sampled outputs (float32, orthonormal)") {
    std::size_t const n = 32768;
    auto x = test::random_normal_vector<float>(n, test::seed());
    std::vector<double> const xd(x.begin(), x.end());
    fwht(std::span<float>(x), Normalize::kOrthonormal);
    Rng rng(7);
    for (int s = 0; s < 32; ++s) {
      std::size_t const i = rng.uniform_int(n);
      double acc = 0;
      for (std::size_t j = 0; j < n; ++j) acc += reference::sylvester_entry(i, j) * xd[j];
      acc /= std::sqrt(double(n));
      CHECK(std::abs(double(x[i]) - acc) <= 2e-5);
    }
  }

  TEST_CASE("fwht: applying the orthonormal transform twice gives the identity") {
    for (std::size_t n : {2u, 64u, 4096u}) {
      auto x = test::random_normal_vector<double>(n, 3);
      auto const original = x;
      fwht(std::span<double>(x), Normalize::kOrthonormal);
      fwht(std::span<double>(x), Normalize::kOrthonormal);
      CHECK(test::max_abs_diff(x, original) <= 1e-13);
    }
  }

  TEST_CASE("fwht_rows: every ISA level equals the scalar level bit for bit") {
    for (std::size_t n = 1; n <= 16384; n *= 2) {
      for (auto normalize : {Normalize::kNone, Normalize::kOrthonormal}) {
        CAPTURE(n);
        std::size_t const rows = 5, stride = n + 3;  // strided rows, odd count
        auto const input_f = test::random_normal_vector<float>(rows * stride, n);
        auto const input_d = test::random_normal_vector<double>(rows * stride, n + 1);
        std::vector<float> ref_f = input_f;
        std::vector<double> ref_d = input_d;
        {
          ScopedIsa scalar(Isa::kScalar);
          fwht_rows(MatrixView<float>(ref_f.data(), rows, n, stride), normalize);
          fwht_rows(MatrixView<double>(ref_d.data(), rows, n, stride), normalize);
        }
        test::for_each_isa([&](Isa isa) {
          CAPTURE(to_string(isa));
          std::vector<float> f = input_f;
          std::vector<double> d = input_d;
          fwht_rows(MatrixView<float>(f.data(), rows, n, stride), normalize);
          fwht_rows(MatrixView<double>(d.data(), rows, n, stride), normalize);
          CHECK(f == ref_f);  // padding between rows untouched, values bit-identical
          CHECK(d == ref_d);
        });
      }
    }
  }

  TEST_CASE("fwht_rows: a batch equals row-by-row, on one and on two threads") {
    std::size_t const n = 1024, rows = 67;
    auto const input = test::random_normal_vector<float>(rows * n, 11);
    std::vector<float> per_row = input;
    for (std::size_t r = 0; r < rows; ++r)
      fwht(std::span<float>(per_row.data() + r * n, n), Normalize::kOrthonormal);
    for (int threads : {1, 2}) {
      std::vector<float> batch = input;
      fwht_rows(MatrixView<float>(batch.data(), rows, n), Normalize::kOrthonormal, threads);
      CHECK(batch == per_row);
    }
  }

  TEST_CASE("fwht: lengths that are not powers of two are rejected with the length named") {
    std::vector<float> x(576);
    CHECK_THROWS_WITH_AS(fwht(std::span<float>(x)),
                         doctest::Contains("576 is not a power of two"), ShapeError);
    std::vector<float> empty;
    CHECK_THROWS_AS(fwht(std::span<float>(empty)), ShapeError);
  }
}
