// SPDX-License-Identifier: Apache-2.0
// Invariance (ALGORITHMS.md §1.9): with every quantizer off, each transformation step, and all of
// them together, leave the model's logits unchanged (FP32, within 1e-4 relative).
#include <doctest/doctest.h>

#include <vector>

#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/pipeline/fuse_norms.hpp"
#include "dfrot/pipeline/online_transforms.hpp"
#include "dfrot/pipeline/rotate_model.hpp"
#include "dfrot/rotation/make_rotation.hpp"
#include "model/logits_util.hpp"
#include "model/synthetic_model.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

namespace {

enum Step { kFuse, kR1, kValues, kDown, kOProj, kQk };

void check_invariance(model::LlamaWeights const& original, std::vector<int> const& tokens,
                      std::vector<Step> const& steps, char const* what) {
  CAPTURE(what);
  model::RowMatrixF const base = test::forward_logits(original, tokens);
  model::LlamaWeights w = original;
  pipeline::OnlineTransformOptions online{.down_proj = false, .o_proj = false, .qk = false};
  for (Step s : steps) {
    switch (s) {
      case kFuse: pipeline::fuse_rms_norms(w); break;
      case kR1:
        pipeline::rotate_residual(
            w, rotation::RandomHadamardRotation(7).generate(w.config.hidden).matrix);
        break;
      case kValues: pipeline::rotate_values_per_head(w, pipeline::head_hadamard(w.config.head_dim)); break;
      case kDown:
        for (auto& l : w.layers)
          pipeline::fuse_input_transform(l.w_down, hadamard::HadamardTransform(w.config.intermediate));
        online.down_proj = true;
        break;
      case kOProj:
        for (auto& l : w.layers) pipeline::fuse_input_transform(l.wo, hadamard::HadamardTransform(w.config.hidden));
        online.o_proj = true;
        break;
      case kQk: online.qk = true; break;
    }
  }
  pipeline::OnlineTransforms hooks(w.config, online);
  double const err = test::relative_max_error(test::forward_logits(w, tokens, &hooks), base);
  MESSAGE(std::string(what), ": max relative logit error ", err);
  CHECK(err <= 1e-4);
}

std::vector<int> some_tokens(std::size_t vocab, std::size_t n) {
  std::vector<int> t;
  Rng rng(11);
  for (std::size_t i = 0; i < n; ++i) t.push_back(int(rng.uniform_int(vocab)));
  return t;
}

}  // namespace

TEST_SUITE("pipeline") {
  TEST_CASE("invariance: each step and all together, SmolLM2 shapes (d=576=36·16, d_ff=1536=12·128)") {
    auto const w = test::synthetic_llama(576, 2, 9, 3, 1536, 64, test::seed(), /*tied=*/true);
    auto const tokens = some_tokens(64, 12);
    check_invariance(w, tokens, {kFuse}, "norm fusion");
    check_invariance(w, tokens, {kFuse, kR1}, "R1 randomized Hadamard");
    check_invariance(w, tokens, {kFuse, kValues}, "per-head V/O Hadamard (DFRot)");
    check_invariance(w, tokens, {kFuse, kDown}, "down_proj Hadamard (R4) online+offline");
    check_invariance(w, tokens, {kFuse, kOProj}, "o_proj full Hadamard online+offline");
    check_invariance(w, tokens, {kQk}, "QK Hadamard after RoPE (R3)");
    check_invariance(w, tokens, {kFuse, kR1, kValues, kDown, kOProj, kQk}, "all together");
  }

  TEST_CASE("invariance: K·2^m factors 40 (doubled 20) and 172 (d=640, d_ff=1376)") {
    auto const w = test::synthetic_llama(640, 1, 10, 5, 1376, 48, test::seed() + 1);
    check_invariance(w, some_tokens(48, 9), {kFuse, kR1, kValues, kDown, kOProj, kQk}, "all together");
  }

  TEST_CASE("invariance: stories260K (real weights, d_ff=172 = 172·1)") {
    auto const shared = test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared is absent");
      return;
    }
    auto const w = model::make_llama_weights(
        io::load_llama_checkpoint(shared / "models/stories260K/stories260K.bin"));
    std::vector<int> const tokens = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};
    check_invariance(w, tokens, {kFuse, kR1, kValues, kDown, kOProj, kQk}, "stories260K all together");
  }

  TEST_CASE("rotate_residual: refuses unfused norms and wrong sizes") {
    auto w = test::synthetic_llama(64, 1, 4, 2, 96, 20, 1);
    CHECK_THROWS_WITH_AS(pipeline::rotate_residual(w, Eigen::MatrixXd::Identity(64, 64)),
                         doctest::Contains("fuse the RMSNorm scales first"), ShapeError);
    pipeline::fuse_rms_norms(w);
    CHECK_THROWS_AS(pipeline::rotate_residual(w, Eigen::MatrixXd::Identity(32, 32)), ShapeError);
  }
}
