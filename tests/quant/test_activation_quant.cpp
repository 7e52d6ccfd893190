// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/quant/activation_quant.hpp"
#include "dfrot/quant/reference.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::quant;

namespace {

std::vector<float> random_matrix(std::size_t rows, std::size_t stride, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(rows * stride);
  for (auto& v : x) v = static_cast<float>(rng.normal() * 2.0 + 0.3);
  // Special rows: all zero, exact ties on a power-of-two grid, a constant row, signed zeros.
  if (rows > 1)
    for (std::size_t c = 0; c < stride; ++c) x[1 * stride + c] = 0.0f;
  if (rows > 2)
    for (std::size_t c = 0; c < stride; ++c)
      x[2 * stride + c] = 0.5f * static_cast<float>(static_cast<int>(c % 15) - 7);
  if (rows > 3)
    for (std::size_t c = 0; c < stride; ++c) x[3 * stride + c] = 1.25f;
  if (rows > 4)
    for (std::size_t c = 0; c < stride; ++c) x[4 * stride + c] = (c % 2) ? -0.0f : 0.0f;
  return x;
}

QuantConfig make_cfg(int bits, Symmetry s, std::size_t group, float clip) {
  QuantConfig c;
  c.bits = bits;
  c.symmetry = s;
  c.granularity = group == 0 ? Granularity::kPerRow : Granularity::kPerGroup;
  c.group_size = group;
  c.clip_ratio = clip;
  return c;
}

bool same_bits(std::vector<float> const& a, std::vector<float> const& b) {
  if (a.size() != b.size()) return false;
  return a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/// Quantizes x on the scalar level, checks that every ISA level reproduces its fake-quant output,
/// packed codes, scales and zero points bit for bit, and returns the scalar results.
std::pair<std::vector<float>, QuantizedTensor> check_every_level_equals_scalar(
    MatrixView<float const> xv, QuantConfig const& cfg) {
  std::size_t const rows = xv.rows(), n = xv.cols();
  std::vector<float> ref(rows * n);
  QuantizedTensor ref_q;
  {
    ScopedIsa scalar(Isa::kScalar);
    fake_quantize_activations(xv, MatrixView<float>(ref.data(), rows, n), cfg);
    ref_q = quantize_activations(xv, cfg);
  }
  // The integer GEMM's operand: one-byte codes of the scalar level (+ the 8-bit asym bias).
  bool const per_token = cfg.granularity == Granularity::kPerRow;
  std::vector<std::uint8_t> ref_bytes(rows * n);
  std::vector<float> ref_scales(rows), ref_zeros(rows);
  if (per_token) {
    ScopedIsa scalar(Isa::kScalar);
    quantize_activations_to_bytes(xv, cfg, MatrixView<std::uint8_t>(ref_bytes.data(), rows, n),
                                  ref_scales.data(), ref_zeros.data());
  }
  test::for_each_isa([&](Isa isa) {
    CAPTURE(to_string(isa));
    std::vector<float> out(rows * n);
    fake_quantize_activations(xv, MatrixView<float>(out.data(), rows, n), cfg);
    CHECK(same_bits(out, ref));
    auto const q = quantize_activations(xv, cfg);
    CHECK(q.data == ref_q.data);
    CHECK(same_bits(q.scales, ref_q.scales));
    CHECK(same_bits(q.zeros, ref_q.zeros));
    if (!per_token) return;
    GemmRowQuantizer const row_quantizer(cfg);
    int const bias = row_quantizer.code_bias();
    CHECK(bias == (cfg.symmetry == Symmetry::kAsym && cfg.bits == 8 ? -128 : 0));
    bool codes_equal = true;
    for (std::size_t r = 0; r < rows; ++r) {
      std::vector<std::int8_t> codes(n);
      float scale = 0.0f, zero = -1.0f;
      std::int32_t sum = -1;
      REQUIRE(row_quantizer(xv.row(r), n, codes.data(), &scale, &zero, &sum));
      std::int32_t ref_sum = 0;
      for (std::size_t c = 0; c < n; ++c) {
        int const b = ref_bytes[r * n + c];
        int const want = cfg.symmetry == Symmetry::kSym ? static_cast<std::int8_t>(b) : b + bias;
        codes_equal = codes_equal && codes[c] == want;
        ref_sum += want;
      }
      CHECK(sum == ref_sum);
      CHECK(std::memcmp(&scale, &ref_scales[r], sizeof scale) == 0);
      if (cfg.symmetry == Symmetry::kAsym) CHECK(zero == ref_zeros[r]);
    }
    CHECK(codes_equal);
  });
  return {std::move(ref), std::move(ref_q)};
}

}  // namespace

TEST_SUITE("quant") {
  TEST_CASE("fake_quantize_activations: every ISA level equals the scalar level bit for bit") {
    std::size_t const rows = 7;
    for (std::size_t n : {1u, 6u, 33u, 64u, 100u, 768u}) {
      for (std::size_t group : {0u, 1u, 2u, 3u, 4u, 16u, 32u}) {
        if (group != 0 && n % group != 0) continue;
        for (int bits : {2, 4, 8}) {
          for (Symmetry s : {Symmetry::kSym, Symmetry::kAsym}) {
            for (float clip : {1.0f, 0.9f}) {
              CAPTURE(n);
              CAPTURE(group);
              CAPTURE(bits);
              std::size_t const stride = n + 3;
              auto const x = random_matrix(rows, stride, test::seed() + n * 31 + group);
              MatrixView<float const> xv(x.data(), rows, n, stride);
              auto const [ref, ref_q] = check_every_level_equals_scalar(xv, make_cfg(bits, s, group, clip));
              // The packed codes dequantize to exactly the fake-quant output.
              bool all_equal = true;
              for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t c = 0; c < n; ++c)
                  all_equal = all_equal && ref_q.value(r, c) == ref[r * n + c];
              CHECK(all_equal);
            }
          }
        }
      }
    }
  }

  TEST_CASE("quantize activations: the SIMD levels' reciprocal division gives the scalar division's codes") {
    // Rows whose scale is set by one large value m (sym: scale = m / 7 for 4 bits) and whose other
    // values sit on and one ulp beside the half-integers of that scale, where x/scale and
    // x·(1/scale) could round to different codes; m sweeps exponents across the reciprocal
    // path's limits [2⁻⁶⁴, 2⁶⁴] (and denormal rows) and significands near all ones.
    std::size_t const n = 256;
    std::vector<float> x;
    std::size_t rows = 0;
    Rng rng(test::seed());
    for (int e = -140; e <= 80; e += 3) {
      for (float sig : {1.0f, 1.9999999f, 1.75f, 1.3333334f, static_cast<float>(1.0 + rng.uniform())}) {
        float const m = std::ldexp(sig, e);
        if (!(m > 0.0f) || !std::isfinite(m)) continue;
        float const scale = m / 7.0f;
        x.push_back(m);
        for (std::size_t c = 1; c < n; ++c) {
          float const half = (static_cast<float>(static_cast<int>(c % 15) - 7) + 0.5f) * scale;
          int const side = static_cast<int>(c / 15 % 3) - 1;  // below, on, above
          float const v = side == 0 ? half : std::nextafter(half, side * HUGE_VALF);
          x.push_back(std::abs(v) <= m ? v : half);
        }
        ++rows;
      }
    }
    MatrixView<float const> const xv(x.data(), rows, n);
    for (int bits : {4, 8}) {
      for (Symmetry s : {Symmetry::kSym, Symmetry::kAsym}) {
        CAPTURE(bits);
        check_every_level_equals_scalar(xv, make_cfg(bits, s, 0, 1.0f));
      }
    }
  }

  TEST_CASE("fake_quantize_activations: matches the float64 reference away from rounding ties") {
    std::size_t const rows = 9, n = 256;
    for (std::size_t group : {0u, 64u}) {
      for (Symmetry s : {Symmetry::kSym, Symmetry::kAsym}) {
        for (float clip : {1.0f, 0.9f}) {
          auto const x = random_matrix(rows, n, test::seed() + 5);
          auto const cfg = make_cfg(4, s, group, clip);
          auto const q = quantize_activations(MatrixView<float const>(x.data(), rows, n), cfg);
          std::vector<double> xd(x.begin(), x.end());
          auto const ref = reference::quantize_activations(xd, rows, n, cfg);
          std::size_t mismatches = 0;
          for (std::size_t r = 0; r < rows; ++r) {
            for (std::size_t c = 0; c < n; ++c) {
              std::size_t const i = r * n + c;
              std::size_t const gi = r * (n / ref.group) + c / ref.group;
              double const scale = ref.scales[gi];
              CHECK(q.scales[gi] == doctest::Approx(scale).epsilon(1e-6));
              double const dv = std::abs(static_cast<double>(q.value(r, c)) - ref.values[i]);
              if (dv <= 1e-5 * scale + 1e-6 * std::abs(xd[i])) continue;
              // Otherwise only a rounding tie within float precision may differ, by one step:
              // of x/scale, or of the zero point −lo/scale (then the clamp range shifts by one).
              double const t = xd[i] / scale;
              bool const tie_x = std::abs(std::abs(t - std::floor(t)) - 0.5) < 1e-4;
              bool const tie_zero =
                  !q.zeros.empty() && static_cast<double>(q.zeros[gi]) != ref.zeros[gi];
              CHECK((tie_x || tie_zero));
              CHECK(dv <= 1.0001 * scale);
              if (!tie_zero) ++mismatches;
            }
          }
          CHECK(mismatches <= 2);
        }
      }
    }
  }

  TEST_CASE("fake_quantize_activations: golden per-token sym values, -8 only with clipping") {
    // absmax 7 → scale 1 without clipping: codes = round-half-even(x), never -8.
    std::vector<float> x = {-7.0f, -2.5f, -0.5f, 0.5f, 1.5f, 2.5f, 6.5f, 7.0f};
    std::vector<float> out(x.size());
    auto cfg = make_cfg(4, Symmetry::kSym, 0, 1.0f);
    fake_quantize_activations(MatrixView<float const>(x.data(), 1, 8),
                              MatrixView<float>(out.data(), 1, 8), cfg);
    std::vector<float> const want = {-7.0f, -2.0f, -0.0f, 0.0f, 2.0f, 2.0f, 6.0f, 7.0f};
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(out[i] == want[i]);
    auto q = quantize_activations(MatrixView<float const>(x.data(), 1, 8), cfg);
    for (std::size_t c = 0; c < 8; ++c) CHECK(q.code(0, c) >= -7);
    // clip 0.9: scale 0.9 → -7/0.9 = -7.78 rounds to -8 (kept), +7/0.9 saturates at +7.
    cfg.clip_ratio = 0.9f;
    q = quantize_activations(MatrixView<float const>(x.data(), 1, 8), cfg);
    CHECK(q.scales[0] == doctest::Approx(0.9));
    CHECK(q.code(0, 0) == -8);
    CHECK(q.code(0, 7) == 7);
  }

  TEST_CASE("fake_quantize_activations: golden asym values and zero rows") {
    std::vector<float> x = {0.0f, 1.0f, 2.0f, 3.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    auto const cfg = make_cfg(4, Symmetry::kAsym, 0, 1.0f);
    auto const q = quantize_activations(MatrixView<float const>(x.data(), 2, 4), cfg);
    CHECK(q.scales[0] == doctest::Approx(0.2));  // (3 − 0)/15
    CHECK(q.zeros[0] == 0.0f);
    CHECK(q.code(0, 3) == 15);
    CHECK(q.code(0, 2) == 10);
    // zero row: (−1, 1) → scale 2/15, zero round(1/scale) = 7 in float (1/0.13333334 =
    // 7.4999996), every code 7, values exactly 0.
    CHECK(q.scales[1] == doctest::Approx(2.0 / 15.0));
    CHECK(q.zeros[1] == 7.0f);
    for (std::size_t c = 0; c < 4; ++c) {
      CHECK(q.code(1, c) == 7);
      CHECK(q.value(1, c) == 0.0f);
    }
    auto const s = quantize_activations(MatrixView<float const>(x.data(), 2, 4),
                                        make_cfg(4, Symmetry::kSym, 0, 1.0f));
    CHECK(s.scales[1] == 1.0f);
    CHECK(s.value(1, 2) == 0.0f);
  }

  TEST_CASE("fake_quantize_activations: in place equals out of place") {
    auto x = random_matrix(5, 96, test::seed());
    std::vector<float> out(x.size());
    auto const cfg = make_cfg(4, Symmetry::kAsym, 32, 0.9f);
    fake_quantize_activations(MatrixView<float const>(x.data(), 5, 96),
                              MatrixView<float>(out.data(), 5, 96), cfg);
    fake_quantize_activations(MatrixView<float const>(x.data(), 5, 96),
                              MatrixView<float>(x.data(), 5, 96), cfg);
    CHECK(same_bits(x, out));
  }

  TEST_CASE("quantize_activations: NaN or Inf input is a NumericError on every ISA level") {
    auto x = random_matrix(4, 40, 1);
    x[2 * 40 + 17] = std::numeric_limits<float>::quiet_NaN();
    auto y = random_matrix(4, 40, 1);
    y[3 * 40 + 39] = -std::numeric_limits<float>::infinity();
    test::for_each_isa([&](Isa) {
      for (std::size_t group : {0u, 8u}) {
        auto const cfg = make_cfg(4, Symmetry::kSym, group, 1.0f);
        std::vector<float> out(x.size());
        CHECK_THROWS_AS(fake_quantize_activations(MatrixView<float const>(x.data(), 4, 40),
                                                  MatrixView<float>(out.data(), 4, 40), cfg),
                        NumericError);
        CHECK_THROWS_AS(quantize_activations(MatrixView<float const>(y.data(), 4, 40), cfg),
                        NumericError);
      }
      // The GEMM row quantizer reports exactly the non-finite rows.
      GemmRowQuantizer const q(make_cfg(4, Symmetry::kAsym, 0, 1.0f));
      std::int8_t codes[40];
      float scale = 0.0f, zero = 0.0f;
      std::int32_t sum = 0;
      for (std::size_t r = 0; r < 4; ++r) {
        CHECK(q(x.data() + r * 40, 40, codes, &scale, &zero, &sum) == (r != 2));
        CHECK(q(y.data() + r * 40, 40, codes, &scale, &zero, &sum) == (r != 3));
      }
    });
  }

  TEST_CASE("quantize_activations: groups that do not divide the row and per-tensor are errors") {
    auto x = random_matrix(2, 48, 1);
    MatrixView<float const> xv(x.data(), 2, 48);
    CHECK_THROWS_AS(quantize_activations(xv, make_cfg(4, Symmetry::kSym, 20, 1.0f)), ShapeError);
    QuantConfig t;
    t.granularity = Granularity::kPerTensor;
    CHECK_THROWS_AS(quantize_activations(xv, t), UsageError);
    std::vector<float> out(10);
    CHECK_THROWS_AS(
        fake_quantize_activations(xv, MatrixView<float>(out.data(), 2, 5), QuantConfig{}),
        ShapeError);
  }

  TEST_CASE("quantize_activations_into: reuses storage and is thread-count independent") {
    auto const x = random_matrix(64, 128, 3);
    MatrixView<float const> xv(x.data(), 64, 128);
    auto const cfg = make_cfg(4, Symmetry::kAsym, 0, 0.9f);
    QuantizedTensor a, b;
    quantize_activations_into(xv, cfg, a, 1);
    auto const* data = a.data.data();
    quantize_activations_into(xv, cfg, a, 2);
    CHECK(a.data.data() == data);
    quantize_activations_into(xv, cfg, b, 2);
    CHECK(a.data == b.data);
    CHECK(a.scales == b.scales);
  }
}
