// SPDX-License-Identifier: Apache-2.0
// Tests on the default model (SmolLM2-135M-Instruct Q4_1 GGUF, fetched by scripts/fetch_model.sh).
// ctest label "model"; they skip with a message when the file is absent, unless
// DFROT_REQUIRE_MODEL=1 (CI), where a missing model is a failure.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dfrot/eval/perplexity.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/pipeline/int4_engine.hpp"
#include "dfrot/pipeline/quantized_model.hpp"
#include "dfrot/tokenizer/tokenizer.hpp"
#include "default_model/default_model.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

namespace {

using test::default_model_available;
using test::default_model_path;

struct Loaded {
  std::unique_ptr<model::LlamaModel> model;
  std::unique_ptr<tokenizer::Tokenizer> tok;
};

Loaded const& loaded() {
  static Loaded const l = [] {
    io::LlamaCheckpoint ckpt = io::load_llama_checkpoint(default_model_path());
    Loaded out;
    out.tok = std::make_unique<tokenizer::Tokenizer>(*ckpt.tokenizer);
    out.model = std::make_unique<model::LlamaModel>(model::make_llama_weights(std::move(ckpt)), 512);
    return out;
  }();
  return l;
}

/// The first `bytes` of ../shared's WikiText-2 raw test split.
std::string wiki_test_prefix(std::filesystem::path const& shared, std::size_t bytes) {
  std::ifstream in(shared / "data/wikitext-2-raw/wiki.test.raw", std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str().substr(0, bytes);
}

}  // namespace

TEST_SUITE("default_model") {
  TEST_CASE("SmolLM2-135M: configuration read from the GGUF") {
    if (!default_model_available()) return;
    auto const& c = loaded().model->config();
    CHECK(c.hidden == 576);
    CHECK(c.n_layers == 30);
    CHECK(c.n_heads == 9);
    CHECK(c.n_kv_heads == 3);
    CHECK(c.head_dim == 64);
    CHECK(c.intermediate == 1536);
    CHECK(c.vocab == 49152);
    CHECK(c.tied_embeddings);
    CHECK(loaded().model->weights().is_tied());
  }

  TEST_CASE("SmolLM2-135M: tokenizer round trip and prefill == decode") {
    if (!default_model_available()) return;
    auto const& tok = *loaded().tok;
    std::string const text = " The tower is 324 metres (1,063 ft) tall, about the same height as an 81-storey building.";
    auto const ids = tok.encode(text, false);
    CHECK(tok.decode(ids) == text);
    auto const& m = *loaded().model;
    std::vector<int> const prompt(ids.begin(), ids.begin() + 8);
    auto c1 = m.make_cache();
    auto const all = m.forward(prompt, c1, nullptr, {.n_threads = 2});
    auto c2 = m.make_cache();
    for (std::size_t t = 0; t < prompt.size(); ++t) {
      auto const one = m.forward(std::span<int const>(prompt).subspan(t, 1), c2);
      CHECK((one.row(0) - all.row(Eigen::Index(t))).cwiseAbs().maxCoeff() <= 1e-3f);
    }
  }

  TEST_CASE("SmolLM2-135M: perplexity of a WikiText-2 test excerpt is that of a working model") {
    if (!default_model_available()) return;
    auto const shared = test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared is absent");
      return;
    }
    auto const tokens = loaded().tok->encode(wiki_test_prefix(shared, 6000), true);
    auto const r = eval::perplexity(*loaded().model, tokens, {.ctx = 512, .chunks = 1, .n_threads = 2});
    MESSAGE("SmolLM2-135M ppl on the first 512 tokens of wiki.test.raw: ", r.ppl);
    // A broken forward pass or tokenizer gives hundreds or more; a working 135M model ~10-40.
    CHECK(r.ppl > 3.0);
    CHECK(r.ppl < 60.0);
  }

  TEST_CASE("SmolLM2-135M: the int4 engine's perplexity equals the fake-quant path's (W4A16, W4A8)") {
    // W4A4KV4 is not compared here: at 4-bit activations this model amplifies float rounding
    // differences (~1e-7) into code flips and perplexity moves of several percent even between
    // the fake path and itself under a 1e-6 input perturbation (docs/RESULTS.md); weight-only
    // pins the packed weights, kernels and tied F16 head on the real model exactly, 8-bit
    // activations the integer GEMM path up to those flips.
    if (!default_model_available()) return;
    auto const shared = test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared is absent");
      return;
    }
    auto const tokens = loaded().tok->encode(wiki_test_prefix(shared, 12000), true);
    for (int const a_bits : {16, 8}) {
      CAPTURE(a_bits);
      pipeline::QuantScheme s;
      s.rotation = pipeline::RotationKind::kHadamard;
      s.w_bits = 4;
      s.a_bits = a_bits;
      s.act.clip_ratio = 0.9f;
      model::LlamaWeights w = loaded().model->weights();
      auto const online = pipeline::transform_weights(w, s, 2);
      pipeline::QuantizedLinears codes;
      pipeline::quantize_weights_rtn(w, s, 2, &codes);
      model::RowMatrix const head = pipeline::tied_head_transform(w);
      REQUIRE(head.rows() == 576);  // SmolLM2 ties lm_head: stored once
      pipeline::round_dense_weights(w, pipeline::DenseType::kF16, head);
      eval::PerplexityOptions const popt{.ctx = 512, .chunks = 2, .n_threads = 2};
      model::LlamaModel const fake(w, 512);
      pipeline::QuantizationHooks hooks(w.config, s, online);
      double const fake_ppl = eval::perplexity(fake, tokens, popt, &hooks).ppl;
      auto engine = pipeline::make_int4_engine(w, codes, s, nullptr, pipeline::DenseType::kF16, head);
      pipeline::release_dense_weights(w);
      model::LlamaModel real(std::move(w), 512);
      real.set_linears(engine);
      pipeline::OnlineTransforms transforms(real.config(), online);
      double const real_ppl = eval::perplexity(real, tokens, popt, &transforms).ppl;
      MESSAGE("SmolLM2-135M W4A", a_bits, " (2 x 512 tokens): int4 engine ", real_ppl, ", fake path ", fake_ppl);
      // Weight-only is deterministic up to float summation order; at 8 bits a few activation
      // codes already flip (the fake path moves ~0.7% under a 1e-6 input perturbation itself).
      CHECK(std::abs(real_ppl - fake_ppl) <= (a_bits == 16 ? 0.002 : 0.02) * fake_ppl);
    }
  }
}
