// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/gemm/gemm.hpp"
#include "dfrot/quant/rtn.hpp"
#include "gemm/gemm_test_data.hpp"
#include "support/test_util.hpp"

#if DFROT_X86
#include <immintrin.h>
#endif

using namespace dfrot;
using namespace dfrot::gemm;

namespace {

using test_data::act_config;
using test_data::gaussian;
using test_data::quantized_weights;

/// Σ_k x̂[t,k]·ŵ[o,k] in float64 from the activation codes and the packed (int4 or int8) weights.
template <class Weights>
std::vector<double> reference_int_gemm(QuantizedActivations const& a, Weights const& w) {
  std::vector<double> y(a.n_rows * w.n_out());
  for (std::size_t t = 0; t < a.n_rows; ++t) {
    for (std::size_t o = 0; o < w.n_out(); ++o) {
      double s = 0;
      for (std::size_t k = 0; k < a.n_cols; ++k) {
        double const xa = double(a.scales[t]) * (double(a.row(t)[k]) - double(a.offsets[t]));
        s += xa * double(w.value(o, k));
      }
      y[t * w.n_out() + o] = s;
    }
  }
  return y;
}

#if DFROT_X86
__attribute__((target("f16c"))) std::uint16_t hardware_f16(float f) {
  return static_cast<std::uint16_t>(_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), 0), 0));
}
#endif

bool same_bits(std::vector<float> const& a, std::vector<float> const& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_SUITE("gemm") {
  TEST_CASE("f16: widening is exact and narrowing rounds to nearest even") {
    for (std::uint32_t h = 0; h < 0x10000u; ++h) {
      float const f = f16_bits_to_float(static_cast<std::uint16_t>(h));
      if (std::isnan(f)) continue;
      REQUIRE(float_to_f16_bits(f) == h);  // every F16 value round-trips
    }
    CHECK(float_to_f16_bits(1.0f + 0x1p-11f) == 0x3C00u);  // tie → even (1.0)
    CHECK(float_to_f16_bits(1.0f + 3 * 0x1p-11f) == 0x3C02u);  // tie → even (upwards)
    CHECK(float_to_f16_bits(65520.0f) == 0x7C00u);
    CHECK(float_to_f16_bits(0x1p-25f) == 0x0000u);  // tie between 0 and the smallest subnormal
    CHECK(float_to_f16_bits(0x1.8p-25f) == 0x0001u);
#if DFROT_X86
    if (detected_isa() >= Isa::kAvx2) {
      std::vector<float> const x = gaussian(20000, test::seed(), 300.0);
      for (float v : x) {
        for (float s : {v, v * 1e-6f, v * 1e-3f}) {
          REQUIRE(float_to_f16_bits(s) == hardware_f16(s));
        }
      }
    }
#endif
  }

  TEST_CASE("PackedInt4Weights: the panel layout holds the codes, row sums and scales") {
    for (auto [n_out, n_in] : {std::pair<std::size_t, std::size_t>{1, 8}, {17, 12}, {33, 172}, {64, 64}}) {
      quant::QuantizedTensor const q = quantized_weights(n_out, n_in, test::seed() + n_out);
      PackedInt4Weights const w = PackedInt4Weights::from_quantized(q, "w");
      CHECK(w.code_bytes() == w.n_out_pad() * w.k_pad() / 2);
      for (std::size_t o = 0; o < w.n_out_pad(); ++o) {
        int sum = 0;
        for (std::size_t k = 0; k < w.k_pad(); ++k) {
          int const expect = (o < n_out && k < n_in) ? q.code(o, k) : 0;
          REQUIRE(w.code(o, k) == expect);
          sum += expect;
        }
        CHECK(w.row_sums()[o] == sum);
        CHECK(w.scales()[o] == (o < n_out ? q.scales[o] : 0.0f));
      }
      CHECK_NOTHROW(w.check_row_sums("w"));
    }
  }

  TEST_CASE("PackedInt4Weights: rejects unsupported quantizers and corrupt views") {
    std::vector<float> const x = gaussian(16 * 32, test::seed());
    quant::QuantConfig asym;
    asym.symmetry = quant::Symmetry::kAsym;
    auto const qa = quant::quantize_weights(MatrixView<float const>(x.data(), 16, 32), asym);
    CHECK_THROWS_AS(PackedInt4Weights::from_quantized(qa, "w"), UsageError);
    quant::QuantConfig grouped;
    grouped.granularity = quant::Granularity::kPerGroup;
    grouped.group_size = 16;
    auto const qg = quant::quantize_weights(MatrixView<float const>(x.data(), 16, 32), grouped);
    CHECK_THROWS_AS(PackedInt4Weights::from_quantized(qg, "w"), UsageError);

    PackedInt4Weights const w = PackedInt4Weights::from_quantized(quantized_weights(16, 32, 1), "w");
    std::vector<std::uint8_t> codes(w.codes(), w.codes() + w.code_bytes());
    std::vector<float> scales(w.scales(), w.scales() + 16);
    std::vector<std::int32_t> sums(w.row_sums(), w.row_sums() + 16);
    CHECK_THROWS_AS(PackedInt4Weights::view(16, 32, {codes.data(), codes.size() - 1}, scales, sums, nullptr, "w"),
                    FormatError);
    CHECK_THROWS_AS(PackedInt4Weights::view(16, 32, codes, {scales.data(), 15}, sums, nullptr, "w"),
                    FormatError);
    codes[5] ^= 0x10;  // one nibble changed: the stored row sum no longer matches
    PackedInt4Weights const bad = PackedInt4Weights::view(16, 32, codes, scales, sums, nullptr, "w");
    CHECK_THROWS_AS(bad.check_row_sums("w"), FormatError);
  }

  TEST_CASE("quantize_activations_for_gemm: codes and scales equal the fake quantizer's") {
    std::size_t const m = 5, n = 44;
    std::vector<float> const x = gaussian(m * n, test::seed(), 1.5, 0.4);
    MatrixView<float const> xv(x.data(), m, n);
    for (int bits : {4, 8}) {
      for (auto s : {quant::Symmetry::kSym, quant::Symmetry::kAsym}) {
        quant::QuantConfig const cfg = act_config(bits, s, 0.9f);
        QuantizedActivations a;
        quantize_activations_for_gemm(xv, cfg, a);
        std::vector<float> fake(m * n);
        quant::fake_quantize_activations(xv, MatrixView<float>(fake.data(), m, n), cfg);
        CHECK(a.k_pad == 64);  // 44 columns padded to the AMX tile k
        for (std::size_t t = 0; t < m; ++t) {
          int sum = 0;
          for (std::size_t k = 0; k < a.k_pad; ++k) sum += a.row(t)[k];
          CHECK(sum == a.code_sums[t]);
          for (std::size_t k = n; k < a.k_pad; ++k) CHECK(a.row(t)[k] == 0);
          for (std::size_t k = 0; k < n; ++k) {
            float const v = a.scales[t] * static_cast<float>(a.row(t)[k] - a.offsets[t]);
            REQUIRE(v == fake[t * n + k]);
          }
        }
      }
    }
    quant::QuantConfig grouped = act_config(4, quant::Symmetry::kSym);
    grouped.granularity = quant::Granularity::kPerGroup;
    grouped.group_size = 4;
    QuantizedActivations a;
    CHECK_THROWS_AS(quantize_activations_for_gemm(xv, grouped, a), UsageError);
  }

  TEST_CASE("quantize_activations_for_gemm with a row transform equals transforming first, bit for bit") {
    // A row-local transform that mixes columns (reverse, then a column-dependent scale), out of
    // place, from a strided input that must stay unchanged.
    std::size_t width = 0;  // the row length of the current case
    auto mix_rows = [](MatrixView<float> rows) noexcept {
      for (std::size_t r = 0; r < rows.rows(); ++r) {
        float* v = rows.row(r);
        std::reverse(v, v + rows.cols());
        for (std::size_t k = 0; k < rows.cols(); ++k) v[k] *= 1.0f + static_cast<float>(k % 3);
      }
    };
    auto mix = [&width](float const* src, float* dst) noexcept {
      for (std::size_t k = 0; k < width; ++k)
        dst[k] = src[width - 1 - k] * (1.0f + static_cast<float>(k % 3));
    };
    for (std::size_t n : {std::size_t{40}, std::size_t{576}, std::size_t{1536}}) {
      for (std::size_t m : {std::size_t{1}, std::size_t{3}, std::size_t{37}}) {
        std::size_t const stride = n + 5;
        std::vector<float> const x = gaussian(m * stride, test::seed() + n + m, 1.0, 0.3);
        MatrixView<float const> xv(x.data(), m, n, stride);
        std::vector<float> copy(m * n);
        for (std::size_t t = 0; t < m; ++t) std::copy(xv.row(t), xv.row(t) + n, copy.data() + t * n);
        mix_rows(MatrixView<float>(copy.data(), m, n));
        width = n;
        for (int bits : {4, 8}) {
          for (auto sym : {quant::Symmetry::kSym, quant::Symmetry::kAsym}) {
            CAPTURE(n);
            CAPTURE(m);
            CAPTURE(bits);
            quant::QuantConfig const cfg = act_config(bits, sym, 0.9f);
            QuantizedActivations fused, separate;
            quantize_activations_for_gemm(xv, cfg, fused, 2, mix);
            quantize_activations_for_gemm(MatrixView<float const>(copy.data(), m, n), cfg, separate);
            REQUIRE(fused.k_pad == separate.k_pad);
            CHECK(std::memcmp(fused.codes.data(), separate.codes.data(), m * fused.k_pad) == 0);
            CHECK(fused.scales == separate.scales);
            CHECK(fused.offsets == separate.offsets);
            CHECK(fused.code_sums == separate.code_sums);
          }
        }
        std::vector<float> const again = gaussian(m * stride, test::seed() + n + m, 1.0, 0.3);
        CHECK(x == again);  // the input is read, not transformed in place
      }
    }
    // A NaN is found after the transform and reported once, outside the parallel loop.
    width = 64;
    std::vector<float> x = gaussian(8 * 64, test::seed(), 1.0, 0.0);
    x[3 * 64 + 7] = std::nanf("");
    QuantizedActivations a;
    CHECK_THROWS_AS(quantize_activations_for_gemm(MatrixView<float const>(x.data(), 8, 64),
                                                  act_config(4, quant::Symmetry::kSym), a, 2, mix),
                    NumericError);
  }

  TEST_CASE("gemm_w4a4: every ISA level equals the scalar level bit for bit and float64 within rounding") {
    struct Shape {
      std::size_t m, n_out, n_in;
    };
    for (Shape const sh : {Shape{1, 1, 8}, Shape{1, 192, 576}, Shape{3, 17, 12}, Shape{7, 33, 172},
                           Shape{12, 576, 576}, Shape{12, 1536, 576}, Shape{12, 192, 1536},
                           Shape{13, 48, 64}, Shape{100, 40, 96}}) {
      PackedInt4Weights const w =
          PackedInt4Weights::from_quantized(quantized_weights(sh.n_out, sh.n_in, test::seed() + sh.n_in), "w");
      std::vector<float> const x = gaussian(sh.m * sh.n_in, test::seed() + sh.m, 2.0, 0.3);
      for (int bits : {4, 8}) {
        for (auto s : {quant::Symmetry::kSym, quant::Symmetry::kAsym}) {
          CAPTURE(sh.m);
          CAPTURE(sh.n_out);
          CAPTURE(sh.n_in);
          CAPTURE(bits);
          QuantizedActivations a;
          quantize_activations_for_gemm(MatrixView<float const>(x.data(), sh.m, sh.n_in),
                                        act_config(bits, s), a);
          std::vector<double> const ref = reference_int_gemm(a, w);
          std::vector<float> scalar;
          test::for_each_isa([&](Isa isa) {
            CAPTURE(to_string(isa));
            std::vector<float> y(sh.m * sh.n_out, -1.0f);
            for (int threads : {1, 2}) {
              gemm_w4a4(a, w, MatrixView<float>(y.data(), sh.m, sh.n_out), threads);
              if (isa == Isa::kScalar && threads == 1) scalar = y;
              REQUIRE(same_bits(y, scalar));
            }
            for (std::size_t i = 0; i < y.size(); ++i) {
              REQUIRE(std::abs(double(y[i]) - ref[i]) <= 1e-5 * (1.0 + std::abs(ref[i])));
            }
          });
        }
      }
    }
  }

  TEST_CASE("gemm_w4a4: writes into a strided output and checks shapes") {
    PackedInt4Weights const w = PackedInt4Weights::from_quantized(quantized_weights(20, 16, 3), "w");
    std::vector<float> const x = gaussian(2 * 16, 4);
    QuantizedActivations a;
    quantize_activations_for_gemm(MatrixView<float const>(x.data(), 2, 16), act_config(4, quant::Symmetry::kSym), a);
    std::vector<float> y(2 * 24, 7.0f);
    gemm_w4a4(a, w, MatrixView<float>(y.data(), 2, 20, 24));
    for (std::size_t c = 20; c < 24; ++c) CHECK(y[c] == 7.0f);  // padding columns untouched
    CHECK_THROWS_AS(gemm_w4a4(a, w, MatrixView<float>(y.data(), 2, 19)), ShapeError);
    QuantizedActivations wrong;
    quantize_activations_for_gemm(MatrixView<float const>(x.data(), 4, 8), act_config(4, quant::Symmetry::kSym), wrong);
    CHECK_THROWS_AS(gemm_w4a4(wrong, w, MatrixView<float>(y.data(), 4, 20)), ShapeError);
  }

  TEST_CASE("PackedInt8Weights: per-row absmax codes (half to even), layout, row lookup, checks") {
    // Row 0: scale 1 → codes are round-half-even of the values; row 1 all zero; row 2 has a NaN.
    std::vector<float> m = {127, -127, 2.5f, 3.5f, -0.5f, 0, 1, 2, 3,  //
                            0,   0,    0,    0,    0,     0, 0, 0, 0};
    PackedInt8Weights const w = PackedInt8Weights::quantize(MatrixView<float const>(m.data(), 2, 9), "emb");
    CHECK(w.n_out_pad() == 16);
    CHECK(w.k_pad() == 16);
    CHECK(w.code_bytes() == 16 * 16);
    CHECK(w.scales()[0] == 1.0f);
    CHECK(w.scales()[1] == 0.0f);
    std::vector<int> const want = {127, -127, 2, 4, 0, 0, 1, 2, 3};
    int sum = 0;
    for (std::size_t k = 0; k < 9; ++k) {
      CHECK(w.code(0, k) == want[k]);
      CHECK(w.code(1, k) == 0);
      sum += want[k];
    }
    for (std::size_t k = 9; k < 16; ++k) CHECK(w.code(0, k) == 0);
    CHECK(w.row_sums()[0] == sum);
    std::vector<float> row(9);
    w.row_to_float(0, row.data());
    for (std::size_t k = 0; k < 9; ++k) CHECK(row[k] == float(want[k]));
    CHECK_NOTHROW(w.check("emb"));

    m[10] = std::nanf("");
    CHECK_THROWS_AS(PackedInt8Weights::quantize(MatrixView<float const>(m.data(), 2, 9), "emb"), NumericError);

    std::vector<std::uint8_t> codes(w.codes(), w.codes() + w.code_bytes());
    std::vector<float> scales(w.scales(), w.scales() + 16);
    std::vector<std::int32_t> sums(w.row_sums(), w.row_sums() + 16);
    CHECK_THROWS_AS(PackedInt8Weights::view(2, 9, std::span(codes).first(10), scales, sums, nullptr, "emb"), FormatError);
    codes[5] = 0;  // w = -128: outside the grid
    CHECK_THROWS_AS(PackedInt8Weights::view(2, 9, codes, scales, sums, nullptr, "emb").check("emb"), FormatError);
    codes[5] = 129;  // a valid code, but the row sum no longer matches
    CHECK_THROWS_AS(PackedInt8Weights::view(2, 9, codes, scales, sums, nullptr, "emb").check("emb"), FormatError);
  }

  TEST_CASE("gemm_w8a8: every ISA level equals the scalar level bit for bit and float64 within rounding") {
    struct Shape {
      std::size_t m, n_out, n_in;
    };
    for (Shape const sh : {Shape{1, 1, 8}, Shape{1, 200, 576}, Shape{3, 17, 12}, Shape{7, 33, 172},
                           Shape{8, 49, 576}, Shape{13, 48, 64}, Shape{20, 100, 36}}) {
      std::vector<float> const wf = gaussian(sh.n_out * sh.n_in, test::seed() + sh.n_out, 0.05);
      PackedInt8Weights const w =
          PackedInt8Weights::quantize(MatrixView<float const>(wf.data(), sh.n_out, sh.n_in), "w");
      std::vector<float> const x = gaussian(sh.m * sh.n_in, test::seed() + sh.m, 2.0, 0.3);
      for (auto s : {quant::Symmetry::kSym, quant::Symmetry::kAsym}) {
        CAPTURE(sh.m);
        CAPTURE(sh.n_out);
        CAPTURE(sh.n_in);
        QuantizedActivations a;
        quantize_activations_for_gemm(MatrixView<float const>(x.data(), sh.m, sh.n_in), act_config(8, s), a);
        std::vector<double> const ref = reference_int_gemm(a, w);
        std::vector<float> scalar;
        test::for_each_isa([&](Isa isa) {
          CAPTURE(to_string(isa));
          std::vector<float> y(sh.m * sh.n_out, -1.0f);
          for (int threads : {1, 2}) {
            gemm_w8a8(a, w, MatrixView<float>(y.data(), sh.m, sh.n_out), threads);
            if (isa == Isa::kScalar && threads == 1) scalar = y;
            REQUIRE(same_bits(y, scalar));
          }
          for (std::size_t i = 0; i < y.size(); ++i) {
            REQUIRE(std::abs(double(y[i]) - ref[i]) <= 1e-5 * (1.0 + std::abs(ref[i])));
          }
        });
      }
    }
    // Extreme codes: every product at its maximum (|code| = 127/128, u = 255 or 1) must not
    // saturate any level (the AVX2 `vpmaddubsw` path would).
    std::vector<float> wf(3 * 64), x(2 * 64);
    for (std::size_t i = 0; i < wf.size(); ++i) wf[i] = (i / 64 == 1) ? -1.0f : 1.0f;
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = (i < 64) ? 1.0f : -1.0f;
    PackedInt8Weights const w = PackedInt8Weights::quantize(MatrixView<float const>(wf.data(), 3, 64), "w");
    QuantizedActivations a;
    quantize_activations_for_gemm(MatrixView<float const>(x.data(), 2, 64), act_config(8, quant::Symmetry::kSym), a);
    test::for_each_isa([&](Isa isa) {
      CAPTURE(to_string(isa));
      std::vector<float> y(2 * 3);
      gemm_w8a8(a, w, MatrixView<float>(y.data(), 2, 3));
      std::vector<double> const ref = reference_int_gemm(a, w);
      for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(std::abs(double(y[i]) - ref[i]) <= 1e-5 * std::abs(ref[i]));
    });
  }

  TEST_CASE("gemm_w4a16: every ISA level matches the float64 product of the dequantized weights") {
    struct Shape {
      std::size_t m, n_out, n_in;
    };
    for (Shape const sh : {Shape{1, 192, 576}, Shape{5, 17, 12}, Shape{9, 33, 172}, Shape{20, 300, 72}}) {
      std::size_t const m = sh.m, n_out = sh.n_out, n_in = sh.n_in;  // (lambdas capture these)
      PackedInt4Weights const w =
          PackedInt4Weights::from_quantized(quantized_weights(n_out, n_in, test::seed() + 7), "w");
      std::vector<float> const x = gaussian(m * n_in, test::seed() + 8);
      test::for_each_isa([&](Isa isa) {
        CAPTURE(to_string(isa));
        std::vector<float> y(m * n_out);
        gemm_w4a16(MatrixView<float const>(x.data(), m, n_in), w, MatrixView<float>(y.data(), m, n_out), 2);
        for (std::size_t t = 0; t < m; ++t) {
          for (std::size_t o = 0; o < n_out; ++o) {
            double r = 0, mag = 0;
            for (std::size_t k = 0; k < n_in; ++k) {
              r += double(x[t * n_in + k]) * double(w.value(o, k));
              mag += std::abs(double(x[t * n_in + k]) * double(w.value(o, k)));
            }
            REQUIRE(std::abs(double(y[t * n_out + o]) - r) <= 1e-5 * (mag + 1e-3));
          }
        }
      });
    }
  }

  TEST_CASE("gemm_f16: direct (decode) and blocked (prefill) paths match float64") {
    std::size_t const n_out = 300, n_in = 68;
    std::vector<float> const wf = gaussian(n_out * n_in, test::seed() + 9, 0.1);
    F16Matrix const w = F16Matrix::from_float(MatrixView<float const>(wf.data(), n_out, n_in), "lm_head");
    for (std::size_t m : {1u, 3u, 8u, 9u, 40u}) {
      std::vector<float> const x = gaussian(m * n_in, test::seed() + m);
      test::for_each_isa([&](Isa isa) {
        CAPTURE(to_string(isa));
        CAPTURE(m);
        std::vector<float> y(m * n_out);
        gemm_f16(MatrixView<float const>(x.data(), m, n_in), w, MatrixView<float>(y.data(), m, n_out), 2);
        for (std::size_t t = 0; t < m; ++t) {
          for (std::size_t o = 0; o < n_out; ++o) {
            double r = 0, mag = 0;
            for (std::size_t k = 0; k < n_in; ++k) {
              double const p = double(x[t * n_in + k]) * double(f16_bits_to_float(w.row(o)[k]));
              r += p;
              mag += std::abs(p);
            }
            REQUIRE(std::abs(double(y[t * n_out + o]) - r) <= 1e-5 * (mag + 1e-3));
          }
        }
      });
    }
    std::vector<float> const big = {1e6f};
    CHECK_THROWS_AS(F16Matrix::from_float(MatrixView<float const>(big.data(), 1, 1), "x"), NumericError);
  }
}
