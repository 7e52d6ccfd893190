// SPDX-License-Identifier: Apache-2.0
// Synthetic models of real shapes: valid llama GGUF files, deterministic, the stated distribution.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "common/synthetic_model.hpp"
#include "dfrot/model/gguf_layer_source.hpp"
#include "dfrot/tokenizer/tokenizer.hpp"
#include "io/io_test_util.hpp"

using namespace dfrot;

TEST_SUITE("apps") {
  TEST_CASE("synthetic model: opens as a llama GGUF, same bits for any thread count, std 1/sqrt(fan_in)") {
    test::TempDir dir("synth");
    io::LlamaHParams hp = app::synthetic_shape("tiny").hp;
    hp.n_layers = 2;
    for (auto const type : {io::GgmlType::kF16, io::GgmlType::kQ8_0, io::GgmlType::kQ4_0, io::GgmlType::kBF16}) {
      CAPTURE(io::ggml_type_name(type));
      auto const a = dir / "a.gguf", b = dir / "b.gguf";
      app::write_synthetic_model(a, hp, type, 7, 1);
      app::write_synthetic_model(b, hp, type, 7, 2);
      CHECK(test::read_bytes(a) == test::read_bytes(b));
      std::uintmax_t const data = app::synthetic_tensor_bytes(hp, type);
      CHECK(std::filesystem::file_size(a) > data);
      CHECK(std::filesystem::file_size(a) < data + (1u << 20));

      model::GgufLayerSource src(a);
      CHECK(src.config().hidden == hp.hidden);
      CHECK(src.config().intermediate == hp.intermediate);
      CHECK(src.config().vocab == hp.vocab);
      model::LlamaWeights const dense = src.dense();
      CHECK_FALSE(dense.is_tied());
      model::LayerWeights const l = src.layer(1);
      double const rms = std::sqrt(double(l.w_gate.squaredNorm()) / double(l.w_gate.size()));
      double const expect = 1.0 / std::sqrt(double(hp.hidden));
      // Q4_0 rounds to 15 levels of the block maximum: its RMS is a little off, not 2×.
      CHECK(rms == doctest::Approx(expect).epsilon(type == io::GgmlType::kQ4_0 ? 0.15 : 0.02));
      CHECK(l.attention_norm.mean() == doctest::Approx(1.0).epsilon(0.02));
      CHECK(l.wq != src.layer(0).wq);  // layers differ

      REQUIRE(src.tokenizer().has_value());
      tokenizer::Tokenizer const tok(*src.tokenizer());
      std::vector<int> const ids = tok.encode("Hello, world", false);
      CHECK_FALSE(ids.empty());
      CHECK(tok.decode(ids) == "Hello, world");
    }
    CHECK_THROWS_AS(app::synthetic_shape("llama-9b"), UsageError);
    CHECK(app::synthetic_shape("llama-2-70b").hp.intermediate == 28672);
  }
}
