// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <cfenv>
#include <cmath>

#include "dfrot/quant/grid.hpp"
#include "dfrot/quant/quant_config.hpp"

using namespace dfrot;
using namespace dfrot::quant;

TEST_SUITE("quant") {
  TEST_CASE("make_grid: symmetric and asymmetric ranges for 2..8 bits") {
    auto const s4 = make_grid<float>(4, Symmetry::kSym);
    CHECK(s4.maxq == 7.0f);
    CHECK(s4.qmin == -8.0f);
    CHECK(s4.qmax == 7.0f);
    auto const a4 = make_grid<double>(4, Symmetry::kAsym);
    CHECK(a4.maxq == 15.0);
    CHECK(a4.qmin == 0.0);
    CHECK(a4.qmax == 15.0);
    auto const s8 = make_grid<float>(8, Symmetry::kSym);
    CHECK(s8.qmin == -128.0f);
    CHECK(s8.qmax == 127.0f);
    auto const s2 = make_grid<float>(2, Symmetry::kSym);
    CHECK(s2.qmin == -2.0f);
    CHECK(s2.qmax == 1.0f);
  }

  TEST_CASE("quantize_code: ties x/scale = k + 0.5 round to even for both signs") {
    REQUIRE(std::fegetround() == FE_TONEAREST);
    auto const g = make_grid<float>(4, Symmetry::kSym);
    QuantParams<float> const p{0.5f, 0.0f};
    // x/scale = 0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, -3.5 → 0, 2, 2, 4, -0, -2, -2, -4
    float const x[] = {0.25f, 0.75f, 1.25f, 1.75f, -0.25f, -0.75f, -1.25f, -1.75f};
    float const want[] = {0, 2, 2, 4, 0, -2, -2, -4};
    for (int i = 0; i < 8; ++i) {
      CAPTURE(i);
      CHECK(quantize_code(x[i], p, g) == want[i]);
    }
    // Asymmetric: the zero point is added after rounding: 2.5 → 2, + 3 = 5.
    auto const ga = make_grid<double>(4, Symmetry::kAsym);
    CHECK(quantize_code(1.25, QuantParams<double>{0.5, 3.0}, ga) == 5.0);
    CHECK(quantize_code(-1.25, QuantParams<double>{0.5, 3.0}, ga) == 1.0);
  }

  TEST_CASE("quantize_code: clamps to [-8, 7] and [0, 15]") {
    auto const g = make_grid<float>(4, Symmetry::kSym);
    QuantParams<float> const p{1.0f, 0.0f};
    CHECK(quantize_code(100.0f, p, g) == 7.0f);
    CHECK(quantize_code(-100.0f, p, g) == -8.0f);
    CHECK(quantize_code(-8.4f, p, g) == -8.0f);
    CHECK(quantize_code(7.4f, p, g) == 7.0f);
    auto const ga = make_grid<float>(4, Symmetry::kAsym);
    CHECK(quantize_code(100.0f, QuantParams<float>{1.0f, 2.0f}, ga) == 15.0f);
    CHECK(quantize_code(-100.0f, QuantParams<float>{1.0f, 2.0f}, ga) == 0.0f);
  }

  TEST_CASE("weight_params: sym absmax/maxq with the 1e-5 floor, asym zero point, zero rows") {
    auto const g = make_grid<float>(4, Symmetry::kSym);
    auto p = weight_params(-3.5f, 1.0f, g);
    CHECK(p.scale == doctest::Approx(0.5));
    CHECK(p.zero == 0.0f);
    p = weight_params(0.0f, 0.0f, g);  // zero row
    CHECK(p.scale == 1e-5f / 7.0f);
    auto const ga = make_grid<double>(4, Symmetry::kAsym);
    auto pa = weight_params(-1.0, 2.0, ga);
    CHECK(pa.scale == doctest::Approx(0.2));
    CHECK(pa.zero == 5.0);
    pa = weight_params(0.0, 0.0, ga);  // zero row → (−1, 1)
    CHECK(pa.scale == doctest::Approx(2.0 / 15.0));
    CHECK(pa.zero == 8.0);  // round(7.5) = 8 (even)
    CHECK(fake_quantize(0.0, pa, ga) == 0.0);
  }

  TEST_CASE("activation_params: zero rows get scale 1 (sym) or (-1, 1) (asym)") {
    auto const g = make_grid<float>(4, Symmetry::kSym);
    auto p = activation_params(0.0f, 0.0f, g);
    CHECK(p.scale == 1.0f);
    CHECK(fake_quantize(0.0f, p, g) == 0.0f);
    auto const ga = make_grid<float>(4, Symmetry::kAsym);
    p = activation_params(0.0f, 0.0f, ga);
    CHECK(p.scale == 2.0f / 15.0f);
    CHECK(p.zero == 7.0f);  // 1/float(2/15) = 7.4999996 → 7 (float32, as the reference in fp32)
    p = activation_params(3.0f, 3.0f, ga);  // constant group widened to [0, 3]
    CHECK(p.scale == 3.0f / 15.0f);
    CHECK(fake_quantize(3.0f, p, ga) == doctest::Approx(3.0));
    p = activation_params(-0.0f, 2.0f, ga);  // signed zero is canonicalised
    CHECK(!std::signbit(p.zero));
  }

  TEST_CASE("validate: rejects bad bits, clip ratios and zero group sizes") {
    QuantConfig c;
    CHECK_NOTHROW(validate(c, "t"));
    c.bits = 1;
    CHECK_THROWS_AS(validate(c, "t"), UsageError);
    c.bits = 9;
    CHECK_THROWS_AS(validate(c, "t"), UsageError);
    c.bits = 4;
    c.clip_ratio = 0.0f;
    CHECK_THROWS_AS(validate(c, "t"), UsageError);
    c.clip_ratio = 1.5f;
    CHECK_THROWS_AS(validate(c, "t"), UsageError);
    c.clip_ratio = 0.9f;
    c.granularity = Granularity::kPerGroup;
    CHECK_THROWS_AS(validate(c, "t"), UsageError);
    c.group_size = 128;
    CHECK_NOTHROW(validate(c, "t"));
    CHECK(group_columns(c, 4096, "t") == 128);
    CHECK_THROWS_AS(group_columns(c, 4000, "t"), ShapeError);
  }
}
