// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "dfrot/model/llama_model.hpp"
#include "dfrot/quant/activation_quant.hpp"
#include "model/synthetic_model.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::model;

TEST_SUITE("model") {
  TEST_CASE("LlamaModel: FP32 forward equals an independent float64 forward (GQA, untied)") {
    LlamaModel const m(test::synthetic_llama(64, 2, 4, 2, 96, 50, test::seed()));
    std::vector<int> const tokens = {1, 7, 3, 49, 0, 22, 22, 5, 13, 31};
    auto cache = m.make_cache();
    RowMatrixF const logits = m.forward(tokens, cache);
    auto const ref = test::reference_forward(m.weights(), tokens);
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      for (std::size_t v = 0; v < 50; ++v) {
        double const b = ref[t][v];
        CHECK(std::abs(double(logits(Eigen::Index(t), Eigen::Index(v))) - b) <= 1e-4 + 1e-4 * std::abs(b));
      }
    }
  }

  TEST_CASE("LlamaModel: prefill equals token-by-token decode, and chunked prefill") {
    LlamaModel const m(test::synthetic_llama(64, 2, 8, 2, 80, 40, test::seed() + 1, /*tied=*/true));
    std::vector<int> const tokens = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8};
    auto c1 = m.make_cache();
    RowMatrixF const all = m.forward(tokens, c1);
    auto c2 = m.make_cache();
    auto c3 = m.make_cache();
    RowMatrixF const head = m.forward(std::span<int const>(tokens).first(5), c3);
    RowMatrixF const tail = m.forward(std::span<int const>(tokens).subspan(5), c3);
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      RowMatrixF const one = m.forward(std::span<int const>(tokens).subspan(t, 1), c2);
      CHECK((one.row(0) - all.row(Eigen::Index(t))).cwiseAbs().maxCoeff() <= 2e-5f);
      RowMatrixF const& part = t < 5 ? head : tail;
      Eigen::Index const row = Eigen::Index(t < 5 ? t : t - 5);
      CHECK((part.row(row) - all.row(Eigen::Index(t))).cwiseAbs().maxCoeff() <= 2e-5f);
    }
    CHECK(c2.size() == tokens.size());
  }

  TEST_CASE("LlamaModel: a ForwardWorkspace gives the same logits and keeps its buffers across decode steps") {
    LlamaModel const m(test::synthetic_llama(64, 2, 8, 2, 80, 40, test::seed() + 5, /*tied=*/true));
    std::vector<int> const tokens = {3, 1, 4, 1, 5, 9, 2, 6};
    auto plain_cache = m.make_cache();
    auto ws_cache = m.make_cache();
    ForwardWorkspace ws;
    ForwardOptions const with_ws{.n_threads = 1, .workspace = &ws};
    ForwardOptions const without{.n_threads = 1};
    // Prefill of 3, then single-token decode steps; every result bit-identical to the plain path.
    CHECK(m.forward(std::span<int const>(tokens).first(3), ws_cache, nullptr, with_ws) ==
          m.forward(std::span<int const>(tokens).first(3), plain_cache, nullptr, without));
    float const* gate = nullptr;
    float const* attn = nullptr;
    REQUIRE(ws.attention.size() == 1);
    float const* const scores = ws.attention[0].scores.data();
    for (std::size_t t = 3; t < tokens.size(); ++t) {
      auto const step = std::span<int const>(tokens).subspan(t, 1);
      RowMatrixF const a = m.forward(step, ws_cache, nullptr, with_ws);
      CHECK(a == m.forward(step, plain_cache, nullptr, without));
      REQUIRE(ws.attention.size() == 1);
      if (t > 3) {  // after the first decode step the 1-row buffers are never reallocated
        CHECK(ws.gate.data() == gate);
        CHECK(ws.attn.data() == attn);
      }
      // The attention scores (1 × keys ≤ 8 floats) fit in the prefill's 3 × 3: never reallocated.
      CHECK(ws.attention[0].scores.data() == scores);
      gate = ws.gate.data();
      attn = ws.attn.data();
      CHECK(ws.gate.rows() == 1);
    }
  }

  TEST_CASE("LlamaModel: forward_last_into gives forward_last's logits and reuses every buffer in decode") {
    LlamaModel const m(test::synthetic_llama(64, 2, 8, 2, 80, 40, test::seed() + 6, /*tied=*/true));
    std::vector<int> const tokens = {3, 1, 4, 1, 5, 9, 2, 6};
    auto plain_cache = m.make_cache();
    auto ws_cache = m.make_cache();
    ForwardWorkspace ws;
    ForwardOptions const opt{.n_threads = 1};
    auto same_as_last_row = [](std::span<float const> got, RowMatrixF const& want) {
      REQUIRE(got.size() == static_cast<std::size_t>(want.cols()));
      return std::equal(got.begin(), got.end(), want.row(want.rows() - 1).data());
    };
    auto const prompt = std::span<int const>(tokens).first(3);
    CHECK(same_as_last_row(m.forward_last_into(prompt, ws_cache, nullptr, opt, ws),
                           m.forward_last(prompt, plain_cache, nullptr, opt)));
    float const* residual = nullptr;
    float const* logits = nullptr;
    for (std::size_t t = 3; t < tokens.size(); ++t) {
      auto const step = std::span<int const>(tokens).subspan(t, 1);
      std::span<float const> const row = m.forward_last_into(step, ws_cache, nullptr, opt, ws);
      CHECK(same_as_last_row(row, m.forward_last(step, plain_cache, nullptr, opt)));
      CHECK(row.data() == ws.last_logits.data());
      if (t > 3) {  // after the first decode step: the same storage every step
        CHECK(ws.residual.data() == residual);
        CHECK(ws.last_logits.data() == logits);
      }
      residual = ws.residual.data();
      logits = ws.last_logits.data();
    }
    CHECK(ws_cache.size() == tokens.size());
    CHECK_THROWS_AS(m.forward_last_into({}, ws_cache, nullptr, opt, ws), ShapeError);
  }

  TEST_CASE("LlamaModel: the attention scratch is aligned like Eigen matrices; logits do not depend on the heap layout") {
    // Eigen's vectorized softmax sum peels scalars up to the first aligned element: unaligned
    // scratch at a varying malloc offset changed the sums' rounding from call to call (seen as
    // GPTQ files differing between runs and between the streamed and in-memory pipelines).
    LlamaModel const m(test::synthetic_llama(64, 2, 4, 2, 96, 50, test::seed() + 9));
    std::vector<int> tokens;
    for (int t = 0; t < 45; ++t) tokens.push_back((t * 7 + 3) % 50);
    for (int threads : {1, 2}) {
      CAPTURE(threads);
      ForwardOptions const opt{.n_threads = threads};
      auto cache = m.make_cache();
      RowMatrixF const want = m.forward(tokens, cache, nullptr, opt);
      std::vector<std::vector<char>> junk;  // shifts the heap between calls
      for (std::size_t shift = 1; shift <= 12; ++shift) {
        junk.emplace_back(shift * 8);
        auto c = m.make_cache();
        CHECK(m.forward(tokens, c, nullptr, opt) == want);
      }
    }
    ForwardWorkspace ws;
    auto cache = m.make_cache();
    (void)m.forward(tokens, cache, nullptr, {.n_threads = 1, .workspace = &ws});
    REQUIRE(!ws.attention.empty());
    CHECK(reinterpret_cast<std::uintptr_t>(ws.attention[0].scores.data()) % EIGEN_MAX_ALIGN_BYTES == 0);
  }

  TEST_CASE("LlamaModel: 1 and 2 threads give the same logits") {
    LlamaModel const m(test::synthetic_llama(64, 1, 4, 4, 64, 30, 5));
    std::vector<int> const tokens = {1, 2, 3, 4, 5, 6};
    auto c1 = m.make_cache();
    auto c2 = m.make_cache();
    RowMatrixF const a = m.forward(tokens, c1, nullptr, {.n_threads = 1});
    RowMatrixF const b = m.forward(tokens, c2, nullptr, {.n_threads = 2});
    CHECK((a - b).cwiseAbs().maxCoeff() <= 1e-5f);
  }

  TEST_CASE("LlamaModel: hooks see every linear input and K/V; bad tokens and overflow throw") {
    struct Counter : ForwardHooks {
      int inputs = 0, keys = 0, values = 0, queries = 0;
      void linear_input(std::size_t, LinearInput, MatrixView<float>) override { ++inputs; }
      void key(std::size_t, MatrixView<float>) override { ++keys; }
      void value(std::size_t, MatrixView<float>) override { ++values; }
      void query(std::size_t, MatrixView<float>) override { ++queries; }
    } counter;
    LlamaModel const m(test::synthetic_llama(32, 3, 2, 1, 48, 20, 9));
    auto cache = m.make_cache();
    std::vector<int> const tokens = {1, 2};
    m.forward(tokens, cache, &counter);
    CHECK(counter.inputs == 3 * 4 + 1);
    CHECK(counter.keys == 3);
    CHECK(counter.values == 3);
    CHECK(counter.queries == 3);
    std::vector<int> const bad = {20};
    CHECK_THROWS_WITH_AS(m.forward(bad, cache), doctest::Contains("token id 20"), ShapeError);
    std::vector<int> const many(70, 1);
    auto fresh = m.make_cache();
    CHECK_THROWS_AS(m.forward(many, fresh), ShapeError);
  }
}

TEST_CASE("LlamaModel: segments run several sequences in one call, each as if alone (FP32 and KV4)") {
  LlamaModel m(test::synthetic_llama(64, 2, 4, 2, 96, 50, test::seed() + 7));
  // Two contexts (prefilled together, no prefix), then three continuations: two of context A,
  // one of context B, each attending only to its own context.
  std::vector<int> const ctx_a = {1, 7, 3, 49, 0}, ctx_b = {22, 22, 5, 13, 31, 8, 2};
  std::vector<std::vector<int>> const conts = {{4, 4, 9}, {17}, {6, 1, 30, 2}};
  std::vector<int> const owner = {0, 0, 1};
  for (bool const kv4 : {false, true}) {
    CAPTURE(kv4);
    if (kv4) {
      quant::KvQuantConfig const q{.bits = 4, .n_kv_heads = 2, .head_dim = 16};
      m.set_kv_format({std::vector(2, q), std::vector(2, q)});
    }
    auto cache = m.make_cache(64);
    std::vector<int> contexts = ctx_a;
    contexts.insert(contexts.end(), ctx_b.begin(), ctx_b.end());
    std::vector<SequenceSegment> const first = {{ctx_a.size(), 0, 0}, {ctx_b.size(), 0, 0}};
    RowMatrixF const h1 = m.forward_hidden(contexts, cache, nullptr, {.segments = first});
    std::vector<int> tail;
    std::vector<SequenceSegment> second;
    for (std::size_t i = 0; i < conts.size(); ++i) {
      tail.insert(tail.end(), conts[i].begin(), conts[i].end());
      second.push_back(owner[i] == 0 ? SequenceSegment{conts[i].size(), 0, ctx_a.size()}
                                     : SequenceSegment{conts[i].size(), ctx_a.size(), contexts.size()});
    }
    RowMatrixF const h2 = m.forward_hidden(tail, cache, nullptr, {.segments = second});
    CHECK(cache.size() == contexts.size() + tail.size());
    // Each sequence alone from an empty cache.
    std::size_t row = 0;
    for (std::size_t i = 0; i < conts.size(); ++i) {
      std::vector<int> seq = owner[i] == 0 ? ctx_a : ctx_b;
      std::size_t const ctx_rows = seq.size(), ctx_first = owner[i] == 0 ? 0 : ctx_a.size();
      seq.insert(seq.end(), conts[i].begin(), conts[i].end());
      auto alone_cache = m.make_cache();
      RowMatrixF const alone = m.forward_hidden(seq, alone_cache);
      for (std::size_t t = 0; t < ctx_rows; ++t) {
        CHECK((alone.row(Eigen::Index(t)) - h1.row(Eigen::Index(ctx_first + t))).cwiseAbs().maxCoeff() <= 2e-5f);
      }
      for (std::size_t t = 0; t < conts[i].size(); ++t, ++row) {
        CHECK((alone.row(Eigen::Index(ctx_rows + t)) - h2.row(Eigen::Index(row))).cwiseAbs().maxCoeff() <= 2e-5f);
      }
    }
  }
  // Layout errors name the segment.
  auto cache = m.make_cache(64);
  std::vector<int> const three = {1, 2, 3};
  std::vector<SequenceSegment> const short_cover = {{2, 0, 0}};
  CHECK_THROWS_WITH_AS(m.forward_hidden(three, cache, nullptr, {.segments = short_cover}),
                       doctest::Contains("segments cover 2 rows of 3"), ShapeError);
  std::vector<SequenceSegment> const bad_prefix = {{3, 0, 5}};
  CHECK_THROWS_WITH_AS(m.forward_hidden(three, cache, nullptr, {.segments = bad_prefix}),
                       doctest::Contains("segment 0 has prefix rows [0, 5)"), ShapeError);
}

TEST_CASE("LlamaWeights: tied embeddings share the lm_head until untie()") {
  auto w = dfrot::test::synthetic_llama(32, 1, 2, 1, 40, 25, 3, /*tied=*/true);
  CHECK(w.is_tied());
  CHECK(&w.lm_head() == &w.tok_embeddings);
  w.untie();
  CHECK_FALSE(w.is_tied());
  CHECK(w.lm_head() == w.tok_embeddings);
  w.output(0, 0) += 1.0f;  // now independent
  CHECK(w.output(0, 0) != w.tok_embeddings(0, 0));
}

TEST_CASE("LlamaModel: a prefill spanning several attention row blocks equals the float64 reference") {
  using namespace dfrot;
  model::LlamaModel const m(test::synthetic_llama(32, 1, 4, 2, 48, 30, 17), 320);
  std::vector<int> tokens;
  Rng rng(2);
  for (int i = 0; i < 300; ++i) tokens.push_back(int(rng.uniform_int(30)));
  auto cache = m.make_cache();
  std::vector<int> const first(tokens.begin(), tokens.begin() + 10);  // then a 290-token chunk
  m.forward(first, cache);
  model::RowMatrixF const rest = m.forward(std::span<int const>(tokens).subspan(10), cache);
  auto const ref = test::reference_forward(m.weights(), tokens);
  double worst = 0;
  for (std::size_t t = 10; t < 300; ++t)
    for (std::size_t v = 0; v < 30; ++v)
      worst = std::max(worst, std::abs(double(rest(Eigen::Index(t - 10), Eigen::Index(v))) - ref[t][v]) /
                                  (1e-4 + 1e-4 * std::abs(ref[t][v])));
  CHECK(worst <= 1.0);
}

TEST_CASE("make_llama_weights: a NaN or Inf weight is an error naming the tensor") {
  io::LlamaCheckpoint ck;
  ck.path = "nan.gguf";
  ck.hparams.architecture = "llama";
  ck.hparams.hidden = 8;
  ck.hparams.n_layers = 1;
  ck.hparams.n_heads = 2;
  ck.hparams.n_kv_heads = 1;
  ck.hparams.head_dim = 4;
  ck.hparams.intermediate = 16;
  ck.hparams.vocab = 6;
  auto add = [&](std::string const& name, std::vector<std::size_t> shape) {
    std::size_t n = 1;
    for (std::size_t s : shape) n *= s;
    ck.tensors[name] = io::Tensor{shape, std::vector<float>(n, 0.5f)};
  };
  add("tok_embeddings", {6, 8});
  add("norm", {8});
  add("output", {6, 8});
  add("layers.0.attention_norm", {8});
  add("layers.0.ffn_norm", {8});
  add("layers.0.attention.wq", {8, 8});
  add("layers.0.attention.wk", {4, 8});
  add("layers.0.attention.wv", {4, 8});
  add("layers.0.attention.wo", {8, 8});
  add("layers.0.feed_forward.w1", {16, 8});
  add("layers.0.feed_forward.w2", {8, 16});
  add("layers.0.feed_forward.w3", {16, 8});
  io::LlamaCheckpoint good = ck;
  CHECK_NOTHROW((void)model::make_llama_weights(std::move(good)));
  ck.tensors["layers.0.attention.wk"].data[5] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS((void)model::make_llama_weights(std::move(ck)),
                       doctest::Contains("layers.0.attention.wk"), NumericError);
}

TEST_CASE("LlamaModel: a non-finite activation met inside a layer names the layer") {
  // A quantizer hook meeting NaN (here injected at layer 1's MLP input) throws NumericError; the
  // forward adds which decoder layer it was in.
  struct NanAtLayer1 final : ForwardHooks {
    void linear_input(std::size_t layer, LinearInput site, MatrixView<float> x) override {
      if (layer == 1 && site == LinearInput::kMlp) x(0, 3) = std::numeric_limits<float>::quiet_NaN();
      quant::fake_quantize_activations(x, x, quant::QuantConfig{});
    }
  } hooks;
  LlamaModel const m(test::synthetic_llama(32, 2, 4, 2, 48, 30, 3), 16);
  std::vector<int> const tokens = {1, 2, 3};
  auto cache = m.make_cache();
  CHECK_THROWS_WITH_AS((void)m.forward(tokens, cache, &hooks),
                       doctest::Contains("decoder layer 1"), NumericError);
}
