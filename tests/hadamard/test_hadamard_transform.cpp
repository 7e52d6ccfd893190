// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/hadamard/hadamard_transform.hpp"
#include "dfrot/hadamard/reference.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::hadamard;

namespace {

double norm(std::vector<double> const& x) {
  double s = 0;
  for (double v : x) s += v * v;
  return std::sqrt(s);
}
}  // namespace

TEST_SUITE("hadamard") {
  TEST_CASE("factorize: every size of the target model families, with QuaRot's K") {
    struct Case {
      std::size_t n, k;
      char const* model;
    };
    Case const cases[] = {
        {4096, 1, "LLaMA-2-7B hidden"},    {11008, 172, "LLaMA-2-7B ffn"},
        {5120, 40, "LLaMA-2-13B hidden"},  {13824, 108, "LLaMA-2-13B ffn"},
        {8192, 1, "LLaMA-2-70B hidden"},   {28672, 28, "LLaMA-2/3-70B ffn"},
        {14336, 28, "LLaMA-3-8B ffn"},     {14336, 28, "Mistral-7B ffn"},
        {3584, 28, "Qwen2-7B hidden"},     {18944, 148, "Qwen2-7B ffn"},
        {576, 36, "SmolLM2-135M hidden"},  {1536, 12, "SmolLM2-135M ffn"},
        {960, 60, "SmolLM2-360M hidden"},  {2560, 40, "SmolLM2-360M ffn"},
        {2048, 1, "SmolLM2-1.7B hidden"},  {8192, 1, "SmolLM2-1.7B ffn"},
        {64, 1, "head dim 64"},            {128, 1, "head dim 128"},
    };
    for (auto const& c : cases) {
      std::string const model = c.model;
      CAPTURE(model);
      CAPTURE(c.n);
      auto const f = factorize(c.n);
      REQUIRE(f.has_value());
      CHECK(f->k == c.k);
      CHECK(f->k * f->m == c.n);
      // Norm-preserving and invertible at full size, in float32 and float64.
      HadamardTransform const t(c.n);
      auto x = test::random_normal_vector<double>(c.n, c.n);
      auto const original = x;
      t.apply(std::span<double>(x));
      CHECK(std::abs(norm(x) - norm(original)) <= 1e-12 * norm(original));
      t.apply(std::span<double>(x), Transpose::kYes);
      CHECK(test::max_abs_diff(x, original) <= 1e-12);
      auto xf = test::random_normal_vector<float>(c.n, c.n);
      auto const original_f = xf;
      t.apply(std::span<float>(xf));
      t.apply(std::span<float>(xf), Transpose::kYes);
      CHECK(test::max_abs_diff(xf, original_f) <= 2e-5);
    }
  }

  TEST_CASE("factorize: K is searched in QuaRot's order, with 44 after 28 and 148 last") {
    CHECK(factorize(44 * 8)->k == 44);
    CHECK(factorize(148 * 4)->k == 148);
    CHECK(factorize(40 * 32)->k == 40);
    CHECK(factorize(7 * 64)->k == 28);
    CHECK(factorize(7 * 11 * 64) == std::nullopt);
    CHECK(factorize(0) == std::nullopt);
  }

  TEST_CASE("HadamardTransform: equals (H_K ⊗ H_m)/√n on basis vectors and random vectors") {
    for (std::size_t k : kSpecialOrders) {
      for (std::size_t m : {1u, 2u, 8u, 32u}) {
        std::size_t const n = k * m;
        if (factorize(n)->k != k) continue;  // another K wins the search (e.g. 40·m vs 20·2m)
        CAPTURE(n);
        HadamardTransform const t(n);
        auto const x = test::random_normal_vector<double>(n, n + 5);
        for (auto transpose : {Transpose::kNo, Transpose::kYes}) {
          auto y = x;
          t.apply(std::span<double>(y), transpose);
          auto const expected = reference::transform(k, m, x, transpose == Transpose::kYes);
          CHECK(test::max_abs_diff(y, expected) <= 1e-12 * std::sqrt(double(n)));
        }
        if (n <= 512) {
          auto const dense = t.dense();
          double worst = 0, ortho = 0;
          for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t j = 0; j < n; ++j) {
              worst = std::max(worst, std::abs(dense[i * n + j] - reference::transform_entry(k, m, i, j)));
              double dot = 0;
              for (std::size_t c = 0; c < n; ++c) dot += dense[i * n + c] * dense[j * n + c];
              ortho = std::max(ortho, std::abs(dot - (i == j ? 1.0 : 0.0)));
            }
          }
          CHECK(worst <= 1e-14);
          CHECK(ortho <= 1e-12);  // T·Tᵀ = I
        }
      }
    }
  }

  TEST_CASE("HadamardTransform: symmetric cases are involutions") {
    for (std::size_t n : {1024u, 28u * 16u, 36u * 16u, 52u * 8u}) {
      HadamardTransform const t(n);
      CAPTURE(n);
      REQUIRE(t.is_symmetric());
      auto x = test::random_normal_vector<double>(n, 1);
      auto const original = x;
      t.apply(std::span<double>(x));
      t.apply(std::span<double>(x));
      CHECK(test::max_abs_diff(x, original) <= 1e-12);
    }
    CHECK_FALSE(HadamardTransform(172 * 4).is_symmetric());
  }

  TEST_CASE("HadamardTransform: every ISA level equals the scalar level bit for bit") {
    for (std::size_t n : {12u * 4u, 20u, 20u * 8u, 28u * 64u, 40u * 128u, 44u * 16u, 36u * 16u,
                          60u * 16u, 108u * 32u, 148u * 8u, 156u * 16u, 172u * 64u, 4096u, 2u}) {
      CAPTURE(n);
      HadamardTransform const t(n);
      std::size_t const rows = 3, stride = n + 1;
      auto const input_f = test::random_normal_vector<float>(rows * stride, n);
      auto const input_d = test::random_normal_vector<double>(rows * stride, n);
      for (auto transpose : {Transpose::kNo, Transpose::kYes}) {
        std::vector<float> ref_f = input_f;
        std::vector<double> ref_d = input_d;
        {
          ScopedIsa scalar(Isa::kScalar);
          t.apply_rows(MatrixView<float>(ref_f.data(), rows, n, stride), transpose);
          t.apply_rows(MatrixView<double>(ref_d.data(), rows, n, stride), transpose);
        }
        test::for_each_isa([&](Isa isa) {
          CAPTURE(to_string(isa));
          std::vector<float> f = input_f;
          std::vector<double> d = input_d;
          t.apply_rows(MatrixView<float>(f.data(), rows, n, stride), transpose, 2);
          t.apply_rows(MatrixView<double>(d.data(), rows, n, stride), transpose, 2);
          CHECK(f == ref_f);
          CHECK(d == ref_d);
        });
      }
    }
  }

  TEST_CASE("HadamardTransform::RowKernel: out of place, the same bits as apply_rows on every ISA level") {
    // Sizes: tiny (shorter than a vector), powers of two, K·2^m with and without Sylvester
    // doublings (12 = 3·2², 40 = 5·2³, 172 = 43·2²) and a block-diagonal fallback.
    for (std::size_t n : {2u, 8u, 12u * 4u, 20u, 40u * 128u, 12u * 128u, 576u, 172u * 64u, 4096u, 9u * 64u}) {
      CAPTURE(n);
      HadamardTransform const t(n, Fallback::kBlockDiagonal);
      std::size_t const rows = 3;
      auto const input = test::random_normal_vector<float>(rows * n, n + 1);
      for (auto transpose : {Transpose::kNo, Transpose::kYes}) {
        test::for_each_isa([&](Isa isa) {
          CAPTURE(to_string(isa));
          std::vector<float> ref = input;
          t.apply_rows(MatrixView<float>(ref.data(), rows, n), transpose);
          HadamardTransform::RowKernel const kernel = t.row_kernel(transpose);
          REQUIRE(kernel.size() == n);
          std::vector<float> out(rows * n, -7.0f);
          for (std::size_t r = 0; r < rows; ++r) kernel(input.data() + r * n, out.data() + r * n);
          CHECK(out == ref);
        });
      }
    }
  }

  TEST_CASE("HadamardTransform: apply_cols computes T·M and Tᵀ·M") {
    std::size_t const n = 12 * 4, cols = 37;  // not a multiple of the panel width
    HadamardTransform const t(n);
    auto const m = test::random_normal_vector<double>(n * cols, 9);
    for (auto transpose : {Transpose::kNo, Transpose::kYes}) {
      auto out = m;
      t.apply_cols(MatrixView<double>(out.data(), n, cols), transpose, 2);
      for (std::size_t c = 0; c < cols; ++c) {
        std::vector<double> col(n);
        for (std::size_t r = 0; r < n; ++r) col[r] = m[r * cols + c];
        auto const expected = reference::transform(12, 4, col, transpose == Transpose::kYes);
        for (std::size_t r = 0; r < n; ++r) CHECK(std::abs(out[r * cols + c] - expected[r]) <= 1e-12);
      }
    }
  }

  TEST_CASE("HadamardTransform: unsupported sizes name the size and the nearest supported ones") {
    // LLaMA-family sizes with no K·2^m factorization (ALGORITHMS.md §1.5).
    CHECK_THROWS_WITH_AS(HadamardTransform(13696), doctest::Contains("size 13696"), ShapeError);
    CHECK_THROWS_WITH_AS(HadamardTransform(10944),
                         doctest::Contains("nearest supported sizes: 10240 and 11008"), ShapeError);
    CHECK_THROWS_WITH_AS(HadamardTransform(29568), doctest::Contains("Fallback::kBlockDiagonal"),
                         ShapeError);
    CHECK_THROWS_AS(HadamardTransform(0), ShapeError);
    std::vector<float> x(100);
    CHECK_THROWS_AS(HadamardTransform(128).apply(std::span<float>(x)), ShapeError);
  }

  TEST_CASE("HadamardTransform: the block-diagonal fallback is opt-in and orthogonal") {
    std::size_t const n = 10944;  // 19 · 576, 576 = 36 · 16
    HadamardTransform const t(n, Fallback::kBlockDiagonal);
    CHECK(t.is_block_diagonal());
    CHECK(t.block_size() == 576);
    CHECK(t.k() == 36);
    auto x = test::random_normal_vector<double>(n, 2);
    auto y = x;
    t.apply(std::span<double>(y));
    HadamardTransform const block(576);
    for (std::size_t b = 0; b < n / 576; ++b) {
      std::vector<double> part(x.begin() + b * 576, x.begin() + (b + 1) * 576);
      block.apply(std::span<double>(part));
      for (std::size_t i = 0; i < 576; ++i) CHECK(y[b * 576 + i] == part[i]);
    }
    t.apply(std::span<double>(y), Transpose::kYes);
    CHECK(test::max_abs_diff(y, x) <= 1e-12);
    CHECK_THROWS_AS(HadamardTransform(7 * 11 * 13, Fallback::kBlockDiagonal), ShapeError);
  }

  TEST_CASE("nearest_supported_sizes and largest_supported_divisor") {
    auto const [below, above] = nearest_supported_sizes(13696);
    CHECK(below == 13312);  // 52 · 256
    CHECK(above == 13824);  // 108 · 128
    CHECK(largest_supported_divisor(29568) == 1408);  // 29568 = 21 · 1408, 1408 = 44 · 32
    CHECK(largest_supported_divisor(13696) == 128);   // 13696 = 107 · 128
  }

  TEST_CASE("hadamard: huge sizes are refused at once; the divisor search cannot wrap or hang") {
    // `dfrot hadamard -- -5` passed 2^64 - 5: the old d·d <= n loop wrapped and never ended.
    CHECK(largest_supported_divisor(~std::size_t{0} - 4) >= 1);
    CHECK(largest_supported_divisor(~std::size_t{0}) == 1);  // 2^64 - 1 is odd, no K divides it
    CHECK(largest_supported_divisor(std::size_t{1} << 63) == std::size_t{1} << 63);
    CHECK(largest_supported_divisor(576 * 7) == 576);
    CHECK(largest_supported_divisor(11008) == 172 * 64);
    CHECK_THROWS_AS(HadamardTransform(std::size_t{1} << 52), ShapeError);  // a power of two
    CHECK_THROWS_AS(HadamardTransform(~std::size_t{0} - 4, Fallback::kBlockDiagonal), ShapeError);
  }
}
