// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/quant/kv_quant.hpp"
#include "dfrot/quant/reference.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::quant;

namespace {
std::vector<float> random_kv(std::size_t tokens, std::size_t width, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(tokens * width);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>(rng.normal() * (1.0 + static_cast<double>((i / 8) % 4)) + 0.5);
  return x;
}
}  // namespace

TEST_SUITE("quant") {
  TEST_CASE("quantize_kv: one (scale, zero) per (token, KV head), never mixing tokens (GQA)") {
    // LLaMA-3-like GQA in miniature: 8 query heads, 2 KV heads, head_dim 8.
    KvQuantConfig cfg;
    cfg.n_kv_heads = 2;
    cfg.head_dim = 8;
    std::size_t const tokens = 6, width = 16;
    auto x = random_kv(tokens, width, test::seed());
    auto const q = quantize_kv(MatrixView<float const>(x.data(), tokens, width), cfg);
    CHECK(q.n_groups == 2);
    CHECK(q.group_size == 8);
    CHECK(q.symmetry == Symmetry::kAsym);
    // Matches the per-group activation reference with group = head_dim, clip 0.95.
    std::vector<double> xd(x.begin(), x.end());
    QuantConfig rc;
    rc.symmetry = Symmetry::kAsym;
    rc.granularity = Granularity::kPerGroup;
    rc.group_size = 8;
    rc.clip_ratio = 0.95f;
    auto const ref = reference::quantize_activations(xd, tokens, width, rc);
    for (std::size_t i = 0; i < q.scales.size(); ++i)
      CHECK(q.scales[i] == doctest::Approx(ref.scales[i]).epsilon(1e-6));
    // Changing token 3 changes nothing in the other tokens' codes or parameters. (Reshaping keys to
    // rows of n_heads·head_dim = 64 would put tokens 0-3 into one row and break this.)
    auto y = x;
    for (std::size_t c = 0; c < width; ++c) y[3 * width + c] *= 40.0f;
    auto const q2 = quantize_kv(MatrixView<float const>(y.data(), tokens, width), cfg);
    for (std::size_t t = 0; t < tokens; ++t) {
      if (t == 3) continue;
      for (std::size_t g = 0; g < 2; ++g) CHECK(q2.scales[t * 2 + g] == q.scales[t * 2 + g]);
      for (std::size_t c = 0; c < width; ++c) CHECK(q2.code(t, c) == q.code(t, c));
    }
    CHECK(q2.scales[3 * 2] != q.scales[3 * 2]);
  }

  TEST_CASE("quantize_kv: rows must be n_kv_heads*head_dim wide (hidden_size reshape rejected)") {
    KvQuantConfig cfg;
    cfg.n_kv_heads = 2;
    cfg.head_dim = 8;
    auto x = random_kv(4, 64, 1);
    CHECK_THROWS_AS(quantize_kv(MatrixView<float const>(x.data(), 4, 64), cfg), ShapeError);
    cfg.n_kv_heads = 0;
    CHECK_THROWS_AS(quantize_kv(MatrixView<float const>(x.data(), 4, 64), cfg), UsageError);
  }

  TEST_CASE("fake_quantize_kv: per-token mode forces 0 into the range, per-head mode does not") {
    KvQuantConfig cfg;
    cfg.n_kv_heads = 2;
    cfg.head_dim = 4;
    cfg.clip_ratio = 1.0f;
    std::vector<float> x = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f, 8.0f};
    auto const head = quantize_kv(MatrixView<float const>(x.data(), 1, 8), cfg);
    CHECK(head.scales[0] == doctest::Approx(3.0 / 15.0));  // [1, 4]
    CHECK(head.scales[1] == doctest::Approx(3.0 / 15.0));  // [5, 8]
    cfg.per_head = false;
    auto const tok = quantize_kv(MatrixView<float const>(x.data(), 1, 8), cfg);
    CHECK(tok.n_groups == 1);
    CHECK(tok.scales[0] == doctest::Approx(8.0 / 15.0));  // [0, 8]
    std::vector<float> out(8);
    fake_quantize_kv(MatrixView<float const>(x.data(), 1, 8), MatrixView<float>(out.data(), 1, 8),
                     cfg);
    for (std::size_t c = 0; c < 8; ++c) CHECK(out[c] == tok.value(0, c));
  }
}
