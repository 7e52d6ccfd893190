// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "dfrot/eval/perplexity.hpp"
#include "model/synthetic_model.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

TEST_SUITE("eval") {
  TEST_CASE("perplexity: windows, tail dropped, positions 1..ctx-1 scored, exp(mean NLL)") {
    model::LlamaModel const m(test::synthetic_llama(32, 1, 2, 1, 40, 25, 3), 16);
    std::vector<int> tokens;
    Rng rng(4);
    for (int i = 0; i < 16 * 3 + 5; ++i) tokens.push_back(int(rng.uniform_int(25)));
    std::size_t calls = 0;
    auto const r = eval::perplexity(m, tokens, {.ctx = 16, .logits_rows = 4}, nullptr,
                                    [&](eval::PerplexityProgress const& p) {
                                      ++calls;
                                      CHECK(p.n_windows == 3);
                                      CHECK(p.ppl > 0);
                                    });
    CHECK(calls == 3);
    CHECK(r.n_windows == 3);
    CHECK(r.n_predictions == 3 * 15);
    // Independent: float64 reference logits of each window from its own start.
    double nll = 0;
    for (std::size_t w = 0; w < 3; ++w) {
      std::vector<int> const window(tokens.begin() + long(w * 16), tokens.begin() + long(w * 16 + 16));
      auto const logits = test::reference_forward(m.weights(), window);
      for (std::size_t i = 0; i + 1 < 16; ++i) {
        double mx = -1e300, sum = 0;
        for (double v : logits[i]) mx = std::max(mx, v);
        for (double v : logits[i]) sum += std::exp(v - mx);
        nll += mx + std::log(sum) - logits[i][std::size_t(window[i + 1])];
      }
    }
    CHECK(std::abs(r.ppl - std::exp(nll / 45.0)) <= 1e-4 * r.ppl);
    auto const limited = eval::perplexity(m, tokens, {.ctx = 16, .chunks = 1});
    CHECK(limited.n_windows == 1);
    CHECK(limited.window_nll[0] == doctest::Approx(r.window_nll[0]).epsilon(1e-9));
  }

  TEST_CASE("perplexity: too little text or too long a context is an error") {
    model::LlamaModel const m(test::synthetic_llama(32, 1, 2, 1, 40, 25, 3), 16);
    std::vector<int> const few(10, 1);
    CHECK_THROWS_WITH_AS(eval::perplexity(m, few, {.ctx = 16}), doctest::Contains("fewer than one window"),
                         ShapeError);
    std::vector<int> const many(64, 1);
    CHECK_THROWS_AS(eval::perplexity(m, many, {.ctx = 32}), ShapeError);
  }
}
