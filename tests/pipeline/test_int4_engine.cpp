// SPDX-License-Identifier: Apache-2.0
// The int4 engine (packed weights, integer GEMMs, KV4 cache) against the fake-quant oracle.
#include <doctest/doctest.h>

#include <vector>

#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/pipeline/int4_engine.hpp"
#include "dfrot/pipeline/quantized_model.hpp"
#include "model/logits_util.hpp"
#include "model/synthetic_model.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

namespace {

pipeline::QuantScheme paper_scheme(int a_bits = 4) {
  pipeline::QuantScheme s;
  s.rotation = pipeline::RotationKind::kHadamard;
  s.w_bits = 4;
  s.a_bits = a_bits;
  s.k_bits = s.v_bits = 4;
  s.act.clip_ratio = 0.9f;
  s.k.symmetry = s.v.symmetry = quant::Symmetry::kAsym;
  s.k.clip_ratio = s.v.clip_ratio = 0.95f;
  return s;
}

/// The fake path of a Q8 lm_head: `inner`'s hooks, then the head input quantized to int8 per token
/// as the engine's W8A8 head does (exact for an untied head; a tied one quantizes x·Mᵀ instead).
class Q8HeadInput final : public model::ForwardHooks {
 public:
  explicit Q8HeadInput(model::ForwardHooks& inner) : inner_(inner) {}
  void linear_input(std::size_t layer, model::LinearInput site, MatrixView<float> x) override {
    inner_.linear_input(layer, site, x);
    if (site == model::LinearInput::kLmHead)
      quant::fake_quantize_activations(x, x, pipeline::q8_head_input_config());
  }
  void query(std::size_t layer, MatrixView<float> q) override { inner_.query(layer, q); }
  void key(std::size_t layer, MatrixView<float> k) override { inner_.key(layer, k); }
  void value(std::size_t layer, MatrixView<float> v) override { inner_.value(layer, v); }

 private:
  model::ForwardHooks& inner_;
};

struct Pair {
  model::RowMatrixF fake;
  model::RowMatrixF real;
  std::size_t cache_bytes = 0;
  std::size_t fp32_cache_bytes = 0;
};

/// Logits of the fake path (QuantizationHooks on FP32 weights) and of the int4 engine for the same
/// transformed, RTN-quantized model, prefill of `tokens` (then `decode` more tokens one at a time).
/// With `keep_ratio` > 0 both paths keep massive tokens (MassiveTokenKeeper, reference norms
/// measured on `tokens` by the FP32 transformed model).
Pair fake_and_real(model::LlamaWeights w, pipeline::QuantScheme const& s, std::vector<int> const& tokens,
                   pipeline::DenseType dense, std::size_t decode = 0, double keep_ratio = 0,
                   std::size_t* kept_rows = nullptr, bool fuse_online = false) {
  bool const tied = w.is_tied();
  auto const online = pipeline::transform_weights(w, s, 2);
  pipeline::QuantizedLinears codes;
  pipeline::quantize_weights_rtn(w, s, 2, &codes);
  model::RowMatrix const head_transform = tied ? pipeline::tied_head_transform(w) : model::RowMatrix();
  if (tied) REQUIRE(head_transform.rows() == static_cast<Eigen::Index>(w.config.hidden));
  pipeline::round_dense_weights(w, dense, head_transform);  // the oracle uses the engine's dense weights
  std::size_t const n_prefill = tokens.size() - decode;
  auto run = [&](model::LlamaModel const& m, model::ForwardHooks* hooks) {
    auto cache = m.make_cache();
    std::vector<int> const head(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(n_prefill));
    model::RowMatrixF out(static_cast<Eigen::Index>(tokens.size()), static_cast<Eigen::Index>(w.config.vocab));
    out.topRows(static_cast<Eigen::Index>(n_prefill)) = m.forward(head, cache, hooks, {.n_threads = 2});
    for (std::size_t t = n_prefill; t < tokens.size(); ++t) {
      out.row(static_cast<Eigen::Index>(t)) = m.forward(std::span<int const>(&tokens[t], 1), cache, hooks, {.n_threads = 2});
    }
    return std::pair{out, cache.bytes_per_position()};
  };
  std::vector<double> reference;
  if (keep_ratio > 0) {
    model::LlamaModel const m(w, 512);
    pipeline::OnlineTransforms transforms(w.config, online);
    pipeline::ResidualNormObserver observer(w.config.n_layers, &transforms);
    auto cache = m.make_cache();
    m.forward_hidden(tokens, cache, &observer);
    reference = observer.medians();
  }
  // The keeper owns a non-owning forwarder to the path's hooks.
  auto keeper = [&](model::ForwardHooks& inner, std::shared_ptr<pipeline::KeptTokens> const& kept) {
    return std::make_unique<pipeline::MassiveTokenKeeper>(std::make_unique<pipeline::ForwardingHooks>(&inner),
                                                          reference, keep_ratio, kept);
  };
  Pair p;
  {
    model::LlamaModel const m(w, 512);
    pipeline::QuantizationHooks hooks(w.config, s, online);
    Q8HeadInput q8_hooks(hooks);
    model::ForwardHooks* h = dense == pipeline::DenseType::kQ8 ? static_cast<model::ForwardHooks*>(&q8_hooks) : &hooks;
    std::unique_ptr<pipeline::MassiveTokenKeeper> keep;
    if (keep_ratio > 0) {
      auto kept = std::make_shared<pipeline::KeptTokens>();
      hooks.set_kept_tokens(kept);
      keep = keeper(*h, kept);
      h = keep.get();
    }
    auto [logits, bytes] = run(m, h);
    p.fake = logits;
    p.fp32_cache_bytes = bytes;
  }
  auto engine = pipeline::make_int4_engine(w, codes, s, nullptr, dense, head_transform);
  CHECK(engine->tied() == tied);
  pipeline::release_dense_weights(w);
  model::LlamaModel m(w, 512);
  m.set_linears(engine);
  m.set_kv_format(pipeline::kv_cache_format(w.config, s, nullptr));
  pipeline::OnlineTransformOptions hook_online = online;
  if (fuse_online) {
    hook_online = engine->fuse_online_transforms(w.config, online);
    CHECK(!hook_online.down_proj);
    CHECK(!hook_online.o_proj);
    CHECK(hook_online.qk == online.qk);
  }
  pipeline::OnlineTransforms transforms(w.config, hook_online);
  model::ForwardHooks* h = &transforms;
  std::unique_ptr<pipeline::MassiveTokenKeeper> keep;
  std::shared_ptr<pipeline::KeptTokens> kept;
  if (keep_ratio > 0) {
    kept = std::make_shared<pipeline::KeptTokens>();
    engine->set_kept_tokens(kept);
    keep = keeper(transforms, kept);
    h = keep.get();
  }
  auto [logits, bytes] = run(m, h);
  if (kept && kept_rows) *kept_rows = kept->total_kept();
  p.real = logits;
  p.cache_bytes = bytes;
  return p;
}

}  // namespace

TEST_SUITE("pipeline") {
  TEST_CASE("int4 engine: W4A4KV4 logits equal the fake-quant path's (FP32 lm_head) within rounding") {
    auto const w = test::synthetic_llama(128, 2, 4, 2, 256, 64, test::seed());
    std::vector<int> const tokens = {1, 5, 9, 3, 31, 0, 7, 12, 40, 2, 2, 63, 17, 8, 21, 5};
    for (int a_bits : {4, 8, 16}) {
      CAPTURE(a_bits);
      Pair const p = fake_and_real(w, paper_scheme(a_bits), tokens, pipeline::DenseType::kF32);
      // Integer sums are exact; only float summation order differs in the FP32 parts (an
      // activation that lands on a rounding boundary could flip a code, hence not 1e-6).
      CHECK(test::relative_frobenius_error(p.real, p.fake) <= 1e-4);
      CHECK(p.cache_bytes * 5 < p.fp32_cache_bytes);  // KV4: codes + (scale, zero) per head
    }
  }

  TEST_CASE("int4 engine: decode token by token and the F16 lm_head match the fake path on the same weights") {
    auto const w = test::synthetic_llama(128, 2, 4, 2, 256, 64, test::seed() + 1);
    std::vector<int> const tokens = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3};
    Pair const p = fake_and_real(w, paper_scheme(), tokens, pipeline::DenseType::kF16, 6);
    CHECK(test::relative_frobenius_error(p.real, p.fake) <= 1e-4);
  }

  TEST_CASE("int4 engine: Q8 embeddings and lm_head (W8A8 head) match the fake path with int8 weights") {
    auto const w = test::synthetic_llama(128, 2, 4, 2, 256, 64, test::seed() + 6);
    std::vector<int> const tokens = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3};
    Pair const p = fake_and_real(w, paper_scheme(), tokens, pipeline::DenseType::kQ8, 6);
    CHECK(test::relative_frobenius_error(p.real, p.fake) <= 1e-4);
    // Tied: the engine quantizes x·Mᵀ, the oracle x, so only a loose agreement is expected.
    auto const tied = test::synthetic_llama(128, 2, 4, 2, 256, 64, test::seed() + 7, /*tied=*/true);
    Pair const t = fake_and_real(tied, paper_scheme(), tokens, pipeline::DenseType::kQ8, 3);
    CHECK(test::relative_frobenius_error(t.real, t.fake) <= 2e-2);
    CHECK(pipeline::parse_dense_type("q8") == pipeline::DenseType::kQ8);
    CHECK_THROWS_AS(pipeline::parse_dense_type("bf16"), UsageError);
  }

  TEST_CASE("int4 engine: a tied lm_head is stored once, as the embeddings and a d x d transform") {
    auto const w = test::synthetic_llama(128, 2, 4, 2, 256, 64, test::seed() + 4, /*tied=*/true);
    std::vector<int> const tokens = {1, 2, 3, 50, 60, 7, 7, 8, 9, 10};
    Pair const p = fake_and_real(w, paper_scheme(), tokens, pipeline::DenseType::kF16, 3);
    CHECK(test::relative_frobenius_error(p.real, p.fake) <= 1e-4);
    // An independent lm_head (vocab > d, so E·M = L is overdetermined) has no such transform.
    auto const untied = test::synthetic_llama(128, 1, 4, 2, 256, 256, test::seed() + 5);
    CHECK(pipeline::tied_head_transform(untied).size() == 0);
  }

  TEST_CASE("int4 engine: symmetric KV and activations, per-token KV groups") {
    auto const w = test::synthetic_llama(128, 1, 4, 2, 256, 64, test::seed() + 2);
    std::vector<int> const tokens = {7, 7, 1, 0, 63, 5, 9, 11};
    pipeline::QuantScheme s = paper_scheme();
    s.k.symmetry = s.v.symmetry = quant::Symmetry::kSym;
    s.v.per_head = false;
    s.act.symmetry = quant::Symmetry::kAsym;
    Pair const p = fake_and_real(w, s, tokens, pipeline::DenseType::kF32);
    CHECK(test::relative_frobenius_error(p.real, p.fake) <= 1e-4);
  }

  TEST_CASE("int4 engine: kept massive tokens (W4A16 rows) match the fake path keeping the same rows") {
    auto w = test::synthetic_llama(128, 2, 4, 2, 256, 64, test::seed() + 9);
    w.tok_embeddings.row(5) *= 60.0f;  // token 5's residual stream is massive in every layer
    std::vector<int> const tokens = {1, 5, 9, 3, 31, 0, 7, 12, 40, 2, 5, 63, 17, 8, 21, 6};
    std::size_t kept = 0;
    Pair const k = fake_and_real(w, paper_scheme(), tokens, pipeline::DenseType::kF32, 4, 8.0, &kept);
    CHECK(test::relative_frobenius_error(k.real, k.fake) <= 1e-4);
    CHECK(kept == 2 * 2);  // both 5s, in both layers
    // Keeping changes the logits: the rows really skip quantization.
    Pair const q = fake_and_real(w, paper_scheme(), tokens, pipeline::DenseType::kF32, 4);
    CHECK(test::relative_frobenius_error(k.real, q.real) > 1e-3);
    // A ratio no row reaches keeps nothing: the plain engine.
    std::size_t none = 1;
    Pair const n = fake_and_real(w, paper_scheme(), tokens, pipeline::DenseType::kF32, 4, 1e6, &none);
    CHECK(none == 0);
    CHECK(test::relative_frobenius_error(n.real, q.real) <= 1e-6);
  }

  TEST_CASE("int4 engine: online Hadamards fused with the activation quantizer give the hooks' logits bit for bit") {
    // d_ff 192 = 12·16 (a K-stage, as SmolLM2's 1536 = 12·128) and 256 (a power of two).
    for (std::size_t ff : {std::size_t{192}, std::size_t{256}}) {
      auto w = test::synthetic_llama(128, 2, 4, 2, ff, 64, test::seed() + 11);
      w.tok_embeddings.row(5) *= 60.0f;  // a massive token for the kept-rows case
      std::vector<int> const tokens = {1, 5, 9, 3, 31, 0, 7, 12, 40, 2, 5, 63, 17, 8, 21, 6};
      for (int a_bits : {4, 8, 16}) {
        for (double keep : {0.0, 8.0}) {
          CAPTURE(ff);
          CAPTURE(a_bits);
          CAPTURE(keep);
          pipeline::QuantScheme s = paper_scheme(a_bits);
          model::LlamaWeights rotated = w;
          auto const online = pipeline::transform_weights(rotated, s, 1);
          REQUIRE(online.down_proj);  // both online sites are exercised
          REQUIRE(online.o_proj);
          Pair const hooks = fake_and_real(w, s, tokens, pipeline::DenseType::kF32, 4, keep);
          Pair const fused = fake_and_real(w, s, tokens, pipeline::DenseType::kF32, 4, keep, nullptr, true);
          CHECK((fused.real.array() == hooks.real.array()).all());
        }
      }
    }
  }

  TEST_CASE("int4 engine: unsupported schemes are refused with the reason") {
    auto const w = test::synthetic_llama(128, 1, 4, 2, 256, 64, test::seed());
    pipeline::QuantScheme s = paper_scheme();
    s.weight.granularity = quant::Granularity::kPerGroup;
    s.weight.group_size = 32;
    CHECK(pipeline::int4_engine_unsupported(s).find("per-group") != std::string::npos);
    s = paper_scheme();
    s.k_bits = 8;
    CHECK(!pipeline::int4_engine_unsupported(s).empty());
    s = paper_scheme();
    s.w_bits = 3;
    CHECK_THROWS_AS(pipeline::make_int4_engine(w, {}, s, nullptr), UsageError);
  }

  TEST_CASE("quantize_weights_rtn: keeping the codes leaves the fake weights unchanged") {
    auto w = test::synthetic_llama(128, 1, 4, 2, 256, 64, test::seed() + 3);
    auto w2 = w;
    pipeline::QuantScheme s = paper_scheme();
    s.w_clip.enabled = true;
    pipeline::QuantizedLinears codes;
    pipeline::quantize_weights_rtn(w, s, 2, &codes);
    pipeline::quantize_weights_rtn(w2, s, 2);
    CHECK(w.layers[0].w_down == w2.layers[0].w_down);
    CHECK(w.layers[0].wq == w2.layers[0].wq);
    REQUIRE(codes.layers.size() == 1);
    CHECK(codes.at(0, pipeline::LinearId::kDown).n_rows == 128);
  }

  TEST_CASE("int4 engine on stories260K: W4A4KV4 logits agree with the fake path") {
    auto const shared = test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared is absent");
      return;
    }
    auto w = model::make_llama_weights(io::load_llama_checkpoint(shared / "models/stories260K/stories260K.bin"));
    std::vector<int> tokens;
    for (int i = 0; i < 48; ++i) tokens.push_back((i * 37 + 11) % 512);
    Pair const p = fake_and_real(w, paper_scheme(), tokens, pipeline::DenseType::kF16, 8);
    double const err = test::relative_frobenius_error(p.real, p.fake);
    MESSAGE("stories260K int4 engine vs fake: relative logit error ", err);
    CHECK(err <= 1e-4);
    Eigen::Index agree = 0;
    for (Eigen::Index t = 0; t < p.real.rows(); ++t) {
      Eigen::Index a = 0, b = 0;
      p.real.row(t).maxCoeff(&a);
      p.fake.row(t).maxCoeff(&b);
      agree += a == b;
    }
    CHECK(agree >= p.real.rows() - 1);  // an argmax may flip on a near-tie
  }
}
