// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/quant/reference.hpp"
#include "dfrot/quant/rtn.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::quant;

namespace {

std::vector<float> random_weights(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> w(rows * cols);
  for (auto& v : w) v = static_cast<float>(rng.normal() * 0.02);
  for (std::size_t r = 0; r < rows; r += 3) w[r * cols + (r % cols)] *= 12.0f;  // outliers
  return w;
}

QuantConfig make_cfg(int bits, Symmetry s, std::size_t group) {
  QuantConfig c;
  c.bits = bits;
  c.symmetry = s;
  c.granularity = group == 0 ? Granularity::kPerRow : Granularity::kPerGroup;
  c.group_size = group;
  return c;
}

ClipSearchConfig clip_on() {
  ClipSearchConfig c;
  c.enabled = true;
  return c;
}

}  // namespace

TEST_SUITE("quant") {
  TEST_CASE(
      "fake_quantize_weights: golden per-channel values with ties, -8 never without clipping") {
    std::vector<float> w = {7.0f,  3.5f, -3.5f, 2.5f,   0.5f,  -0.5f,    // absmax 7 → scale 1
                            -3.5f, 3.5f, 1.75f, -1.75f, 0.25f, -0.75f};  // scale 0.5
    std::vector<float> out(w.size());
    fake_quantize_weights(MatrixView<float const>(w.data(), 2, 6),
                          MatrixView<float>(out.data(), 2, 6), make_cfg(4, Symmetry::kSym, 0));
    std::vector<float> const row0 = {7.0f, 4.0f, -4.0f, 2.0f, 0.0f, -0.0f};
    for (std::size_t c = 0; c < 6; ++c) CHECK(out[c] == row0[c]);
    auto const q =
        quantize_weights(MatrixView<float const>(w.data(), 2, 6), make_cfg(4, Symmetry::kSym, 0));
    CHECK(q.code(1, 0) == -7);  // −3.5/0.5 = −7: the −8 code needs clipping
    CHECK(q.code(1, 1) == 7);
    CHECK(q.code(1, 2) == 4);   // 1.75/0.5 = 3.5 → 4 (even)
    CHECK(q.code(1, 3) == -4);  // −3.5 → −4
    CHECK(q.code(1, 4) == 0);   // 0.5 → 0
    CHECK(q.code(1, 5) == -2);  // −1.5 → −2
    // With a clip ratio the negative extreme reaches −8 and the positive one saturates at 7.
    auto cfg = make_cfg(4, Symmetry::kSym, 0);
    cfg.clip_ratio = 0.9f;
    auto const qc = quantize_weights(MatrixView<float const>(w.data(), 2, 6), cfg);
    CHECK(qc.code(1, 0) == -8);
    CHECK(qc.code(1, 1) == 7);
  }

  TEST_CASE("fake_quantize_weights: zero rows stay zero for sym and asym") {
    std::vector<float> w(2 * 8, 0.0f);
    w[8 + 3] = 0.5f;
    for (Symmetry s : {Symmetry::kSym, Symmetry::kAsym}) {
      auto const q =
          quantize_weights(MatrixView<float const>(w.data(), 2, 8), make_cfg(4, s, 0), clip_on());
      for (std::size_t c = 0; c < 8; ++c) CHECK(q.value(0, c) == 0.0f);
      if (s == Symmetry::kSym) CHECK(q.scales[0] == 1e-5f / 7.0f);
    }
  }

  TEST_CASE("weight_group_params: float64 path equals the reference, clip search included") {
    std::size_t const rows = 12, cols = 64;
    auto const w = random_weights(rows, cols, test::seed());
    for (Symmetry s : {Symmetry::kSym, Symmetry::kAsym}) {
      for (bool clip : {false, true}) {
        for (int bits : {3, 4, 8}) {
          ClipSearchConfig cc;
          cc.enabled = clip;
          auto const g = make_grid<double>(bits, s);
          for (std::size_t r = 0; r < rows; ++r) {
            std::vector<double> row(w.begin() + static_cast<std::ptrdiff_t>(r * cols),
                                    w.begin() + static_cast<std::ptrdiff_t>((r + 1) * cols));
            auto const p = weight_group_params<double>(row, g, 1.0, cc);
            double scale = 0, zero = 0;
            reference::weight_group(row, bits, s, 1.0, cc, scale, zero);
            CHECK(p.scale == doctest::Approx(scale).epsilon(1e-12));
            CHECK(p.zero == zero);
          }
        }
      }
    }
  }

  TEST_CASE("weight_group_params: clip search picks the brute-force best on a crafted row") {
    // 1.0 plus three copies of the grid 0.8·j/7 (j = −7 … 6): the best shrink is well inside the
    // search range, and the error at p = 1 is clearly worse.
    std::vector<double> row = {1.0};
    for (int rep = 0; rep < 3; ++rep)
      for (int j = -7; j <= 6; ++j) row.push_back(0.8 * j / 7.0);
    auto const g = make_grid<double>(4, Symmetry::kSym);
    auto const p = weight_group_params<double>(row, g, 1.0, clip_on());
    // Brute force over the same candidates, written out here.
    double best = std::numeric_limits<double>::infinity(), best_scale = 0;
    for (int i = 0; i < 80; ++i) {
      double const scale = (1.0 - i / 100.0) * 1.0 / 7.0;
      double e = 0;
      for (double x : row) {
        double const q = std::clamp(std::nearbyint(x / scale), -8.0, 7.0);
        e += std::pow(std::abs(q * scale - x), 2.4);
      }
      if (e < best) {
        best = e;
        best_scale = scale;
      }
    }
    CHECK(p.scale == doctest::Approx(best_scale).epsilon(1e-12));
    CHECK(p.scale < 0.95 / 7.0);
    CHECK(clip_error<double>(row, p, g, 2.4) < clip_error<double>(row, {1.0 / 7.0, 0.0}, g, 2.4));
  }

  TEST_CASE("weight_group_params: strict improvement keeps p = 1 on an exactly representable row") {
    std::vector<float> row;
    for (int j = -7; j <= 7; ++j) row.push_back(0.25f * static_cast<float>(j));
    auto const g = make_grid<float>(4, Symmetry::kSym);
    auto const p = weight_group_params<float>(row, g, 1.0f, clip_on());
    CHECK(p.scale == 0.25f);  // error 0 at p = 1; later candidates are never strictly better
    std::vector<float> zeros(16, 0.0f);
    auto const pz = weight_group_params<float>(zeros, g, 1.0f, clip_on());
    CHECK(pz.scale == 1e-5f / 7.0f);
  }

  TEST_CASE("fake_quantize_weights: float path is as good as the float64 reference") {
    std::size_t const rows = 10, cols = 96;
    auto const w = random_weights(rows, cols, test::seed() + 1);
    std::vector<double> wd(w.begin(), w.end());
    for (std::size_t group : {0u, 32u}) {
      for (Symmetry s : {Symmetry::kSym, Symmetry::kAsym}) {
        auto const cfg = make_cfg(4, s, group);
        std::vector<float> out(w.size());
        fake_quantize_weights(MatrixView<float const>(w.data(), rows, cols),
                              MatrixView<float>(out.data(), rows, cols), cfg, clip_on());
        auto const ref = reference::quantize_weights(wd, rows, cols, cfg, clip_on());
        std::size_t const gsz = ref.group;
        for (std::size_t r = 0; r < rows; ++r) {
          for (std::size_t k = 0; k < cols / gsz; ++k) {
            double e_ours = 0, e_ref = 0;
            for (std::size_t j = 0; j < gsz; ++j) {
              std::size_t const i = r * cols + k * gsz + j;
              e_ours += std::pow(std::abs(static_cast<double>(out[i]) - wd[i]), 2.4);
              e_ref += std::pow(std::abs(ref.values[i] - wd[i]), 2.4);
            }
            CHECK(e_ours <= e_ref * (1 + 1e-3) + 1e-12);
          }
        }
      }
    }
  }

  TEST_CASE("quantize_weights: codes and parameters dequantize to fake_quantize_weights") {
    std::size_t const rows = 9, cols = 50;
    auto const w = random_weights(rows, cols, test::seed() + 2);
    MatrixView<float const> wv(w.data(), rows, cols);
    for (int bits : {4, 8}) {
      for (Symmetry s : {Symmetry::kSym, Symmetry::kAsym}) {
        for (std::size_t group : {0u, 10u}) {
          auto const cfg = make_cfg(bits, s, group);
          std::vector<float> fake(w.size());
          fake_quantize_weights(wv, MatrixView<float>(fake.data(), rows, cols), cfg, clip_on(), 2);
          auto const q = quantize_weights(wv, cfg, clip_on(), 2);
          bool same = true;
          for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < cols; ++c)
              same = same && q.value(r, c) == fake[r * cols + c];
          CHECK(same);
          std::vector<float> deq(w.size());
          dequantize(q, MatrixView<float>(deq.data(), rows, cols));
          bool same_deq = true;  // == rather than bitwise: codes lose the sign of a −0 result
          for (std::size_t i = 0; i < deq.size(); ++i) same_deq = same_deq && deq[i] == fake[i];
          CHECK(same_deq);
        }
      }
    }
  }

  TEST_CASE("quantize_weights: per-tensor uses one scale for the whole matrix") {
    std::vector<float> w = {1.0f, -2.0f, 0.5f, 3.5f, 0.0f, -7.0f};
    QuantConfig cfg;
    cfg.granularity = Granularity::kPerTensor;
    auto const q = quantize_weights(MatrixView<float const>(w.data(), 2, 3), cfg);
    CHECK(q.scales[0] == 1.0f);
    CHECK(q.scales[1] == 1.0f);
    CHECK(q.code(1, 0) == 4);  // 3.5 → 4
  }

  TEST_CASE("quantize_weights: bad groups, NaN input and bad configs are errors") {
    auto w = random_weights(4, 30, 1);
    MatrixView<float const> wv(w.data(), 4, 30);
    CHECK_THROWS_AS(quantize_weights(wv, make_cfg(4, Symmetry::kSym, 7)), ShapeError);
    CHECK_THROWS_AS(quantize_weights(wv, make_cfg(1, Symmetry::kSym, 0)), UsageError);
    ClipSearchConfig bad = clip_on();
    bad.grid = 0;
    CHECK_THROWS_AS(quantize_weights(wv, make_cfg(4, Symmetry::kSym, 0), bad), UsageError);
    w[37] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_AS(quantize_weights(wv, make_cfg(4, Symmetry::kSym, 0)), NumericError);
    std::vector<float> out(w.size());
    CHECK_THROWS_AS(fake_quantize_weights(wv, MatrixView<float>(out.data(), 4, 30),
                                          make_cfg(4, Symmetry::kSym, 0)),
                    NumericError);
  }
}
