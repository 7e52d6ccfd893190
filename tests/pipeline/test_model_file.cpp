// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <vector>

#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/pipeline/model_file.hpp"
#include "dfrot/pipeline/quantized_model.hpp"
#include "io/io_test_util.hpp"
#include "model/synthetic_model.hpp"
#include "pipeline/tiny_tokenizer.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

TEST_SUITE("pipeline") {
  TEST_CASE("model file: a quantized model saved and loaded again gives the same logits") {
    test::TempDir dir("model_file");
    auto w = test::synthetic_llama(64, 2, 4, 2, 96, 40, test::seed(), /*tied=*/true);
    pipeline::QuantScheme s;
    s.rotation = pipeline::RotationKind::kHadamard;
    s.seed = 5;
    s.w_bits = 4;
    s.w_clip.enabled = true;
    s.a_bits = 4;
    s.act.symmetry = quant::Symmetry::kAsym;
    s.act.clip_ratio = 0.9f;
    s.k_bits = 4;
    s.v_bits = 3;
    s.k.symmetry = quant::Symmetry::kAsym;
    s.v.per_head = false;
    s.v.clip_ratio = 0.95f;
    auto const online = pipeline::transform_weights(w, s, 1);
    pipeline::quantize_weights_rtn(w, s, 1);
    auto const path = dir / "q.gguf";
    pipeline::QuantizedModelInfo written;
    written.scheme = s;
    written.online = online;
    pipeline::write_quantized_model(path, w, test::tiny_tokenizer(40), written);

    auto const info = pipeline::read_quantized_model_info(path);
    REQUIRE(info.has_value());
    CHECK(info->scheme.describe() == s.describe());
    CHECK(info->online.down_proj == online.down_proj);
    CHECK(info->online.o_proj == online.o_proj);
    CHECK(info->online.qk == online.qk);
    CHECK(info->scheme.v.per_head == false);
    CHECK(info->scheme.act.symmetry == quant::Symmetry::kAsym);

    io::LlamaCheckpoint ck = io::load_llama_checkpoint(path);
    REQUIRE(ck.tokenizer.has_value());
    CHECK(ck.tokenizer->tokens == test::tiny_tokenizer(40).tokens);
    CHECK(ck.tokenizer->bos_id == 1);
    model::LlamaWeights loaded = model::make_llama_weights(std::move(ck));
    CHECK_FALSE(loaded.is_tied());
    CHECK(loaded.layers[1].w_down == w.layers[1].w_down);
    CHECK(loaded.output == w.output);

    std::vector<int> const tokens = {1, 7, 3, 9, 22, 5};
    auto logits = [&](model::LlamaWeights const& weights, pipeline::QuantScheme const& sc,
                      pipeline::OnlineTransformOptions const& on) {
      model::LlamaModel const m(weights, 64);
      pipeline::QuantizationHooks hooks(m.config(), sc, on);
      auto cache = m.make_cache();
      return m.forward(tokens, cache, &hooks);
    };
    CHECK((logits(loaded, info->scheme, info->online) - logits(w, s, online)).cwiseAbs().maxCoeff() ==
          0.0f);
  }

  TEST_CASE("model file: other models are not dfrot files; unknown versions are format errors") {
    test::TempDir dir("model_file_other");
    auto const plain = dir / "plain.gguf";
    auto bytes = test::tiny_llama_gguf().build();
    test::write_bytes(plain, bytes);
    CHECK_FALSE(pipeline::read_quantized_model_info(plain).has_value());
    CHECK_FALSE(pipeline::read_quantized_model_info(dir / "missing.gguf").has_value());
    auto g = test::tiny_llama_gguf();
    g.add_u32("dfrot.format_version", 99);
    test::write_bytes(dir / "v99.gguf", g.build());
    CHECK_THROWS_WITH_AS(pipeline::read_quantized_model_info(dir / "v99.gguf"),
                         doctest::Contains("format_version 99"), FormatError);
  }
}
