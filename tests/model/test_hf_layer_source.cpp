// SPDX-License-Identifier: Apache-2.0
// HfLayerSource: a Hugging Face directory read part by part gives the whole-model loader's FP32
// values (and a GGUF file's of the same weights); open_layer_source picks the format.
#include <doctest/doctest.h>

#include <limits>
#include <memory>

#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/gguf_layer_source.hpp"
#include "dfrot/model/hf_layer_source.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "dfrot/model/open_layer_source.hpp"
#include "io/io_test_util.hpp"
#include "model/llama_gguf_file.hpp"
#include "model/llama_hf_dir.hpp"
#include "model/synthetic_model.hpp"
#include "pipeline/tiny_tokenizer.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

namespace {
void check_same_layer(model::LayerWeights const& a, model::LayerWeights const& b) {
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
  TEST_CASE("HfLayerSource: dense part and every layer equal load_llama_checkpoint's weights (dtypes, shards, tie)") {
    test::TempDir dir("hf_layer_source");
    for (char const* dtype : {"F16", "BF16", "F32"})
    for (std::size_t shards : {1u, 3u})
    for (bool tied : {false, true}) {
      CAPTURE(dtype);
      CAPTURE(shards);
      CAPTURE(tied);
      model::LlamaWeights const w = test::synthetic_llama(32, 3, 4, 2, 64, 40, test::seed() + shards, tied);
      auto const hf = dir / str_cat(dtype, shards, tied);
      test::write_llama_hf_dir(hf, w, dtype, shards);
      model::LlamaWeights const whole = model::make_llama_weights(io::load_llama_checkpoint(hf));
      model::HfLayerSource src(hf);
      CHECK(src.config().n_layers == 3);
      CHECK(src.config().tied_embeddings == tied);
      CHECK_FALSE(src.tokenizer().has_value());  // (no tokenizer.json written)
      CHECK(src.stored_bytes() == (std::string(dtype) == "F32" ? 4u : 2u) *
                                      (w.tok_embeddings.size() + w.norm.size() + w.output.size() +
                                       3 * (2 * 32 + 2 * 32 * 32 + 2 * 32 * 16 + 3 * 32 * 64)));
      model::LlamaWeights const dense = src.dense();
      CHECK(dense.layers.empty());
      CHECK(dense.is_tied() == tied);
      CHECK(dense.tok_embeddings == whole.tok_embeddings);
      CHECK(dense.output == whole.output);
      CHECK(dense.norm == whole.norm);
      for (std::size_t l : {2u, 0u, 1u}) check_same_layer(src.layer(l), whole.layers[l]);
      CHECK_THROWS_AS(src.layer(3), UsageError);
    }
  }

  TEST_CASE("HfLayerSource: the same weights as a GGUF file give the same layers (q/k rows back in RoPE-pair order)") {
    test::TempDir dir("hf_vs_gguf");
    model::LlamaWeights const w = test::synthetic_llama(64, 2, 4, 2, 96, 48, test::seed());
    test::write_llama_hf_dir(dir / "hf", w, "F16", 2);
    test::LlamaGgufOptions o;
    o.type = io::GgmlType::kF16;
    test::write_llama_gguf(dir / "m.gguf", w, test::tiny_tokenizer(48), o);
    std::unique_ptr<model::LayerSource> const hf = model::open_layer_source(dir / "hf" / "config.json");
    std::unique_ptr<model::LayerSource> const gguf = model::open_layer_source(dir / "m.gguf");
    CHECK(dynamic_cast<model::HfLayerSource*>(hf.get()) != nullptr);
    CHECK(dynamic_cast<model::GgufLayerSource*>(gguf.get()) != nullptr);
    CHECK(hf->dense().tok_embeddings == gguf->dense().tok_embeddings);
    for (std::size_t l = 0; l < 2; ++l) check_same_layer(hf->layer(l), gguf->layer(l));
    model::LayerWeights const l0 = hf->layer(0);
    // Not just equal to each other: equal to the weights, to F16 precision (both layouts agree).
    CHECK((l0.wq - w.layers[0].wq).cwiseAbs().maxCoeff() <= 1e-3f * w.layers[0].wq.cwiseAbs().maxCoeff());
    CHECK((l0.wk - w.layers[0].wk).cwiseAbs().maxCoeff() <= 1e-3f * w.layers[0].wk.cwiseAbs().maxCoeff());
    CHECK(model::has_layer_source(dir / "hf"));
    CHECK(model::has_layer_source(dir / "m.gguf"));
    test::write_text(dir / "llama2c.bin", std::string(64, '\0'));
    CHECK_FALSE(model::has_layer_source(dir / "llama2c.bin"));
    CHECK_THROWS_WITH_AS(model::open_layer_source(dir / "llama2c.bin"), doctest::Contains("layer by layer"), UsageError);
  }

  TEST_CASE("HfLayerSource: bad tensors fail on open naming the shard and tensor; a non-finite one when read") {
    test::TempDir dir("hf_layer_source_bad");
    model::LlamaWeights w = test::synthetic_llama(32, 2, 4, 2, 64, 40, test::seed());
    test::write_llama_hf_dir(dir / "a", w, "F16", 2);
    std::filesystem::remove(dir / "a" / "model-2-of-2.safetensors");
    CHECK_THROWS_AS(model::HfLayerSource{dir / "a"}, IoError);

    w.layers[1].w_up(3, 5) = std::numeric_limits<float>::infinity();
    test::write_llama_hf_dir(dir / "b", w, "F32");
    model::HfLayerSource src(dir / "b");
    CHECK_NOTHROW(src.layer(0));
    CHECK_THROWS_WITH_AS(src.layer(1), doctest::Contains("layers.1.feed_forward.w3' holds a non-finite value"),
                         FormatError);
    w.layers[1].w_up(3, 5) = 0;

    test::write_llama_hf_dir(dir / "c", w, "I64");
    CHECK_THROWS_WITH_AS(model::HfLayerSource{dir / "c"}, doctest::Contains("has dtype I64"), FormatError);

    w.config.intermediate = 48;  // the FFN tensors (64 wide) disagree with config.json
    test::write_llama_hf_dir(dir / "d", w, "F16");
    CHECK_THROWS_WITH_AS(model::HfLayerSource{dir / "d"}, doctest::Contains("from the hyper-parameters"), FormatError);
    w.config.intermediate = 64;

    w.config.n_layers = 3;  // config.json promises a layer the files lack
    test::write_llama_hf_dir(dir / "e", w, "F16");
    CHECK_THROWS_WITH_AS(model::HfLayerSource{dir / "e"}, doctest::Contains("layers.2.attention.wk' is missing"),
                         FormatError);
  }
}
