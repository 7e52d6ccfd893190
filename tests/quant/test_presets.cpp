// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <array>
#include <string>

#include "dfrot/quant/presets.hpp"

using namespace dfrot;
using namespace dfrot::quant;

TEST_SUITE("quant") {
  TEST_CASE("find_preset: the QuaRot paper settings (ALGORITHMS.md §3.7)") {
    auto const& p = find_preset("quarot-paper");
    CHECK(p.weights.bits == 4);
    CHECK(p.weights.symmetry == Symmetry::kSym);
    CHECK(p.weights.granularity == Granularity::kPerRow);
    CHECK(p.weight_clip.enabled);
    CHECK(p.weight_clip.grid == 100);
    CHECK(p.weight_clip.max_shrink == 0.8);
    CHECK(p.weight_clip.norm == 2.4);
    CHECK(p.activations.symmetry == Symmetry::kSym);
    CHECK(p.activations.clip_ratio == 0.9f);
    CHECK(p.keys.symmetry == Symmetry::kAsym);
    CHECK(p.values.symmetry == Symmetry::kAsym);
    CHECK(p.keys.clip_ratio == 0.95f);
    CHECK(p.values.clip_ratio == 0.95f);
    CHECK(p.keys.per_head);
    CHECK(p.kv_group_size == 128);
    CHECK(p.calib_samples == 128);
    CHECK(p.calib_seq_len == 2048);
    CHECK(p.percdamp == 0.01);
  }

  TEST_CASE("find_preset: code defaults, DFRot README and SpinQuant differ where the spec says") {
    auto const& code = find_preset("quarot-code");
    CHECK(!code.weight_clip.enabled);
    CHECK(code.activations.clip_ratio == 1.0f);
    CHECK(code.keys.symmetry == Symmetry::kSym);
    CHECK(!code.keys.per_head);
    auto const& dfrot = find_preset("dfrot-readme");
    CHECK(dfrot.weight_clip.enabled);
    CHECK(dfrot.activations.symmetry == Symmetry::kAsym);
    CHECK(dfrot.activations.clip_ratio == 1.0f);
    CHECK(dfrot.keys.symmetry == Symmetry::kAsym);
    CHECK(dfrot.kv_group_size == 128);
    CHECK(dfrot.fp32_had);
    CHECK(dfrot.has_seed);
    CHECK(dfrot.seed == 0);
    auto const& spin = find_preset("spinquant");
    CHECK(spin.activations.symmetry == Symmetry::kAsym);
    CHECK(spin.activations.clip_ratio == 1.0f);
    CHECK(spin.o_proj_act_group == 128);
    CHECK(spin.values.symmetry == Symmetry::kAsym);
    CHECK(presets().size() == 6);
    for (auto const& p : presets()) {
      CHECK_NOTHROW(validate(p.weights, p.name));
      CHECK_NOTHROW(validate(p.activations, p.name));
    }
  }

  TEST_CASE("find_preset: an unknown name is a UsageError listing the valid names") {
    try {
      (void)find_preset("quarot");
      FAIL("expected UsageError");
    } catch (UsageError const& e) {
      std::string const msg = e.what();
      for (char const* n : {"quarot-paper", "quarot-code", "dfrot-readme", "spinquant"})
        CHECK(msg.find(n) != std::string::npos);
    }
  }

  TEST_CASE("find_preset: dfrot's best schemes add rotation, GPTQ calibration and learned clipping") {
    auto const& paper = find_preset("quarot-paper");
    auto const& best = find_preset("best-w4a4kv4");
    CHECK(best.rotation == "hadamard");
    CHECK(best.gptq);
    CHECK(best.gptq_windows == 8);
    CHECK(best.gptq_quantized_inputs);
    CHECK(best.learned_act_clip);
    CHECK(best.activations.clip_ratio == paper.activations.clip_ratio);  // the start of the search
    CHECK(best.keys.symmetry == paper.keys.symmetry);
    CHECK(best.act_site_bits == std::array<int, 4>{0, 0, 0, 0});
    auto const& mixed = find_preset("best-mixed");
    CHECK(mixed.learned_act_clip);
    CHECK(mixed.act_site_bits == std::array<int, 4>{0, 0, 8, 0});
    CHECK(paper.rotation.empty());
    CHECK_FALSE(paper.gptq);
  }
}
