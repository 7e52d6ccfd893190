// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/model/rope.hpp"
#include "model/synthetic_model.hpp"

using namespace dfrot;
using namespace dfrot::model;

TEST_SUITE("model") {
  TEST_CASE("rope: rotates adjacent pairs by position·θ^(−2i/d_h) and keeps norms") {
    auto c = test::synthetic_llama(16, 1, 2, 1, 8, 4, 1).config;  // head dim 8
    RopeTable const table(c, 10);
    std::vector<float> x(16);
    for (std::size_t i = 0; i < 16; ++i) x[i] = float(i % 5) - 2.0f;
    auto y = x;
    table.apply(MatrixView<float>(y.data(), 1, 16), 7);
    for (std::size_t h = 0; h < 16; h += 8) {
      for (std::size_t i = 0; i < 4; ++i) {
        double const angle = 7.0 * std::pow(c.rope_theta, -2.0 * double(i) / 8.0);
        double const a = static_cast<double>(x[h + 2 * i]), b = static_cast<double>(x[h + 2 * i + 1]);
        CHECK(double(y[h + 2 * i]) == doctest::Approx(a * std::cos(angle) - b * std::sin(angle)).epsilon(1e-6));
        CHECK(double(y[h + 2 * i + 1]) == doctest::Approx(a * std::sin(angle) + b * std::cos(angle)).epsilon(1e-6));
      }
    }
    CHECK_THROWS_AS(table.apply(MatrixView<float>(y.data(), 1, 16), 10), ShapeError);
  }

  TEST_CASE("rope: frequency factors (GGUF rope_freqs) divide the frequencies like linear scaling") {
    auto c = test::synthetic_llama(16, 1, 2, 1, 8, 4, 1).config;
    std::vector<float> const factors(4, 2.0f);
    auto linear = c;
    linear.rope_scaling = io::RopeScalingType::kLinear;
    linear.rope_factor = 2.0;
    auto const a = rope_inverse_frequencies(c, factors);
    auto const b = rope_inverse_frequencies(linear);
    for (std::size_t i = 0; i < 4; ++i) CHECK(a[i] == doctest::Approx(b[i]));
    std::vector<float> const wrong(3, 1.0f);
    CHECK_THROWS_AS(rope_inverse_frequencies(c, wrong), ShapeError);
  }

  TEST_CASE("rope: LLaMA-3 scaling keeps high frequencies and divides low ones by the factor") {
    auto c = test::synthetic_llama(256, 1, 2, 1, 8, 4, 1).config;  // head dim 128
    c.rope_theta = 500000;
    auto s = c;
    s.rope_scaling = io::RopeScalingType::kLlama3;
    s.rope_factor = 8;
    s.rope_low_freq_factor = 1;
    s.rope_high_freq_factor = 4;
    s.rope_original_max_pos = 8192;
    auto const base = rope_inverse_frequencies(c);
    auto const scaled = rope_inverse_frequencies(s);
    CHECK(scaled.front() == doctest::Approx(base.front()));        // wavelength 2π < 8192/4
    CHECK(scaled.back() == doctest::Approx(base.back() / 8.0));    // wavelength > 8192
    for (std::size_t i = 0; i < base.size(); ++i) {
      CHECK(scaled[i] <= base[i] * (1 + 1e-12));
      CHECK(scaled[i] >= base[i] / 8.0 * (1 - 1e-12));
    }
  }

  TEST_CASE("RopeTable and ModelConfig: sizes from input are bounded before anything is allocated") {
    auto const w = dfrot::test::synthetic_llama(64, 1, 2, 1, 128, 32, 1);
    // Used to wrap positions·head_dim/2 to a small table and write past it.
    CHECK_THROWS_AS(dfrot::model::RopeTable(w.config, 4611686018427387905ull), dfrot::UsageError);
    CHECK_THROWS_AS(dfrot::model::RopeTable(w.config, 100000000), dfrot::UsageError);
    CHECK_NOTHROW(dfrot::model::RopeTable(w.config, 4096));
    dfrot::model::ModelConfig c = w.config;
    c.vocab = std::size_t{1} << 40;
    CHECK_THROWS_WITH_AS(dfrot::model::validate(c), doctest::Contains("vocabulary"), dfrot::ShapeError);
    c = w.config;
    c.intermediate = std::size_t{1} << 50;
    CHECK_THROWS_AS(dfrot::model::validate(c), dfrot::ShapeError);
  }
}
