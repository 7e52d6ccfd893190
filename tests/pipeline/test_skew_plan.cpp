// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <vector>

#include "dfrot/model/llama_model.hpp"
#include "dfrot/pipeline/quantized_model.hpp"
#include "dfrot/pipeline/skew_plan.hpp"
#include "model/synthetic_model.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

TEST_SUITE("pipeline") {
  TEST_CASE("skew plan: SiLU·up inputs are skewed (asym), rotated norm outputs are not; K is decided too") {
    auto w = test::synthetic_llama(64, 2, 4, 2, 128, 40, test::seed());
    pipeline::QuantScheme s;
    s.rotation = pipeline::RotationKind::kHadamard;
    s.k_bits = 4;
    auto const online = pipeline::transform_weights(w, s, 1);
    model::LlamaModel const m(w, 64);
    std::vector<std::vector<int>> windows(1);
    for (int t = 0; t < 48; ++t) windows[0].push_back((t * 7 + 3) % 40);
    quant::SkewThresholds th;
    auto const plan = pipeline::select_quantizer_symmetry(m, online, windows, th, 1);
    REQUIRE(plan.symmetry.size() == 2);
    REQUIRE(plan.report.layers.size() == 2 * pipeline::kQuantSites);
    for (std::size_t l = 0; l < 2; ++l) {
      for (std::size_t i = 0; i < pipeline::kQuantSites; ++i) {
        auto const site = static_cast<pipeline::QuantSite>(i);
        auto const& d = plan.report.at(pipeline::skew_site_name(l, site));
        // The plan is the rule applied to the statistics of exactly that quantizer's input.
        bool const asym = d.mean_ratio > th.tau_mean || std::abs(d.skewness) > th.tau_skew;
        CHECK(plan.at(l, site) == (asym ? quant::Symmetry::kAsym : quant::Symmetry::kSym));
        CHECK(d.n_values > 0);
      }
    }
    // With thresholds no statistic can pass, everything is symmetric; with zero ones, asymmetric.
    auto const none = pipeline::select_quantizer_symmetry(m, online, windows, {.tau_mean = 1e9, .tau_skew = 1e9}, 1);
    auto const all = pipeline::select_quantizer_symmetry(m, online, windows, {.tau_mean = -1, .tau_skew = -1}, 1);
    for (std::size_t i = 0; i < pipeline::kQuantSites; ++i) {
      CHECK(none.count_asym(static_cast<pipeline::QuantSite>(i)) == 0);
      CHECK(all.count_asym(static_cast<pipeline::QuantSite>(i)) == 2);
    }
  }

  TEST_CASE("skew plan: QuantizationHooks follow the plan per layer and site") {
    auto w = test::synthetic_llama(64, 2, 4, 2, 96, 32, 3);
    pipeline::QuantScheme s;
    s.a_bits = 4;
    s.k_bits = 4;
    s.v_bits = 4;
    model::LlamaModel const m(w, 64);
    std::vector<int> const tokens = {1, 2, 3, 4, 5, 6, 7, 8};
    auto run = [&](pipeline::QuantizerPlan const* plan) {
      pipeline::QuantizationHooks hooks(m.config(), s, {.down_proj = false, .o_proj = false, .qk = false}, plan);
      auto cache = m.make_cache();
      return m.forward(tokens, cache, &hooks);
    };
    pipeline::QuantizerPlan sym, asym;
    sym.symmetry.assign(2, {});
    sym.symmetry[0].fill(quant::Symmetry::kSym);
    sym.symmetry[1].fill(quant::Symmetry::kSym);
    asym.symmetry = sym.symmetry;
    asym.symmetry[1][static_cast<std::size_t>(pipeline::QuantSite::kDown)] = quant::Symmetry::kAsym;
    auto const base = run(nullptr);
    CHECK((run(&sym) - base).cwiseAbs().maxCoeff() == 0.0f);  // plan = the scheme's symmetries
    CHECK((run(&asym) - base).cwiseAbs().maxCoeff() > 0.0f);  // one quantizer changed
    pipeline::QuantizerPlan wrong;
    wrong.symmetry.resize(1);
    CHECK_THROWS_AS(pipeline::QuantizationHooks(m.config(), s, {}, &wrong), ShapeError);
  }
}
