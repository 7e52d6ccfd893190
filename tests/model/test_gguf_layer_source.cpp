// SPDX-License-Identifier: Apache-2.0
// GgufLayerSource: a GGUF model read part by part gives the whole-model loader's FP32 values.
#include <doctest/doctest.h>

#include <limits>

#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/gguf_layer_source.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "io/io_test_util.hpp"
#include "model/llama_gguf_file.hpp"
#include "model/synthetic_model.hpp"
#include "pipeline/tiny_tokenizer.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

namespace {
void check_layer_equal(model::LayerWeights const& a, model::LayerWeights const& b) {
  CHECK(a.attention_norm == b.attention_norm);
  CHECK(a.ffn_norm == b.ffn_norm);
  CHECK(a.wq == b.wq);
  CHECK(a.wk == b.wk);
  CHECK(a.wv == b.wv);
  CHECK(a.wo == b.wo);
  CHECK(a.w_gate == b.w_gate);
  CHECK(a.w_up == b.w_up);
  CHECK(a.w_down == b.w_down);
}
}  // namespace

TEST_SUITE("model") {
  TEST_CASE("GgufLayerSource: dense part and every layer equal load_llama_checkpoint's weights") {
    test::TempDir dir("layer_source");
    for (auto const type : {io::GgmlType::kF32, io::GgmlType::kF16})
    for (int tie = 0; tie < 3; ++tie) {  // untied, tied, tied with a duplicated output.weight
      CAPTURE(io::ggml_type_name(type));
      CAPTURE(tie);
      model::LlamaWeights const w = test::synthetic_llama(32, 3, 4, 2, 64, 40, test::seed() + tie, tie != 0);
      auto const path = dir / "m.gguf";
      test::LlamaGgufOptions o;
      o.type = type;
      o.write_tied_output = tie == 2;
      test::write_llama_gguf(path, w, test::tiny_tokenizer(40), o);
      model::LlamaWeights const whole = model::make_llama_weights(io::load_llama_checkpoint(path));
      model::GgufLayerSource src(path);
      CHECK(src.config().n_layers == 3);
      REQUIRE(src.tokenizer().has_value());
      CHECK(src.tokenizer()->tokens.size() == 40);
      model::LlamaWeights const dense = src.dense();
      CHECK(dense.layers.empty());
      CHECK(dense.is_tied() == whole.is_tied());
      CHECK(dense.is_tied() == (tie != 0));
      CHECK(src.config().tied_embeddings == whole.config.tied_embeddings);
      CHECK(dense.tok_embeddings == whole.tok_embeddings);
      CHECK(dense.output == whole.output);
      CHECK(dense.norm == whole.norm);
      for (std::size_t l : {2u, 0u, 1u}) check_layer_equal(src.layer(l), whole.layers[l]);
      CHECK_THROWS_AS(src.layer(3), UsageError);
    }
  }

  TEST_CASE("GgufLayerSource: a missing tensor fails on open, a non-finite one when its layer is read") {
    test::TempDir dir("layer_source_bad");
    model::LlamaWeights w = test::synthetic_llama(32, 2, 4, 2, 64, 40, test::seed());
    auto const path = dir / "m.gguf";
    test::LlamaGgufOptions skip;
    skip.skip = "blk.1.ffn_up.weight";
    test::write_llama_gguf(path, w, test::tiny_tokenizer(40), skip);
    CHECK_THROWS_WITH_AS(model::GgufLayerSource{path}, doctest::Contains("layers.1.feed_forward.w3' is missing"),
                         FormatError);
    w.layers[1].wk(3, 5) = std::numeric_limits<float>::quiet_NaN();
    test::write_llama_gguf(path, w, test::tiny_tokenizer(40));
    model::GgufLayerSource src(path);
    CHECK_NOTHROW(src.dense());
    CHECK_NOTHROW(src.layer(0));
    CHECK_THROWS_WITH_AS(src.layer(1), doctest::Contains("layers.1.attention.wk' holds a non-finite value"),
                         FormatError);
    w.layers[1].wk(3, 5) = 0;
    w.config.intermediate = 48;  // the FFN tensors (64 wide) disagree with the hyper-parameters
    test::write_llama_gguf(path, w, test::tiny_tokenizer(40));
    CHECK_THROWS_WITH_AS(model::GgufLayerSource{path}, doctest::Contains("from the hyper-parameters"), FormatError);
  }
}
