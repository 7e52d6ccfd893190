// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <set>
#include <vector>

#include "dfrot/model/llama_model.hpp"
#include "dfrot/pipeline/quantized_model.hpp"
#include "dfrot/io/npy.hpp"
#include "dfrot/rotation/random_orthogonal.hpp"
#include "io/io_test_util.hpp"
#include "model/logits_util.hpp"
#include "model/synthetic_model.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

namespace {

pipeline::QuantScheme w4a4kv4(pipeline::RotationKind r) {
  pipeline::QuantScheme s;
  s.rotation = r;
  s.w_bits = s.a_bits = s.k_bits = s.v_bits = 4;
  return s;
}

/// Prepares a copy of `w` for `s` and returns its logits.
model::RowMatrixF quantized_logits(model::LlamaWeights w, pipeline::QuantScheme const& s,
                                   std::vector<int> const& tokens, model::ForwardHooks* spy = nullptr) {
  auto const online = pipeline::transform_weights(w, s, 2);
  pipeline::quantize_weights_rtn(w, s, 2);
  struct Chain : model::ForwardHooks {
    model::ForwardHooks* a;
    model::ForwardHooks* b;
    void linear_input(std::size_t l, model::LinearInput s, MatrixView<float> x) override {
      a->linear_input(l, s, x);
      if (b) b->linear_input(l, s, x);
    }
    void query(std::size_t l, MatrixView<float> q) override { a->query(l, q); }
    void key(std::size_t l, MatrixView<float> k) override {
      a->key(l, k);
      if (b) b->key(l, k);
    }
    void value(std::size_t l, MatrixView<float> v) override {
      a->value(l, v);
      if (b) b->value(l, v);
    }
  };
  pipeline::QuantizationHooks hooks(w.config, s, online);
  Chain chain;
  chain.a = &hooks;
  chain.b = spy;
  return test::forward_logits(w, tokens, &chain);
}

}  // namespace

TEST_SUITE("pipeline") {
  TEST_CASE("quantized model: 16-bit quantizers leave the rotated model equal to the original") {
    auto const w = test::synthetic_llama(576, 1, 9, 3, 1536, 32, test::seed());
    std::vector<int> const tokens = {1, 5, 9, 3, 31, 0, 7};
    model::RowMatrixF const base = test::forward_logits(w, tokens, nullptr);
    pipeline::QuantScheme s;
    s.rotation = pipeline::RotationKind::kHadamard;
    s.k_bits = 16;
    CHECK(test::relative_frobenius_error(quantized_logits(w, s, tokens), base) <= 1e-5);
    s.rotation = pipeline::RotationKind::kRandom;
    CHECK(test::relative_frobenius_error(quantized_logits(w, s, tokens), base) <= 1e-5);
    s.vo_rotation = pipeline::VoRotation::kPerHead;  // DFRot/SpinQuant V/O: no online op
    CHECK(test::relative_frobenius_error(quantized_logits(w, s, tokens), base) <= 1e-5);
  }

  TEST_CASE("quantized model: a SpinQuant-style per-layer R2 set from .npy is fused and exact") {
    test::TempDir dir("r2_set");
    auto const w = test::synthetic_llama(64, 2, 4, 2, 96, 32, 11);
    std::vector<int> const tokens = {1, 5, 9, 3, 31, 0, 7};
    model::RowMatrixF const base = test::forward_logits(w, tokens, nullptr);
    std::vector<Eigen::MatrixXd> r2 = {rotation::haar_orthogonal(16, 1), rotation::haar_orthogonal(16, 2)};
    io::write_npy_stack(dir / "r2.npy", r2);
    pipeline::QuantScheme s;
    s.rotation = pipeline::RotationKind::kHadamard;
    s.vo_rotation = pipeline::VoRotation::kPerHead;
    s.r2_file = (dir / "r2.npy").string();
    CHECK(test::relative_frobenius_error(quantized_logits(w, s, tokens), base) <= 1e-5);
    auto with_r2 = w, with_h = w;
    pipeline::transform_weights(with_r2, s, 1);
    pipeline::QuantScheme h = s;
    h.r2_file.clear();
    pipeline::transform_weights(with_h, h, 1);
    CHECK((with_r2.layers[1].wv - with_h.layers[1].wv).cwiseAbs().maxCoeff() > 1e-3f);  // R2 used
    CHECK(s.describe().find("r2=") != std::string::npos);
    // One matrix per layer, d_h×d_h, orthogonal — or a clear error.
    io::write_npy_stack(dir / "short.npy", {r2[0]});
    s.r2_file = (dir / "short.npy").string();
    auto copy = w;
    CHECK_THROWS_AS(pipeline::transform_weights(copy, s, 1), ShapeError);
    r2[1](0, 0) += 0.5;
    io::write_npy_stack(dir / "bad.npy", r2);
    s.r2_file = (dir / "bad.npy").string();
    copy = w;
    CHECK_THROWS_AS(pipeline::transform_weights(copy, s, 1), NumericError);
  }

  TEST_CASE("quantized model: V/O styles — QuaRot rotates the o_proj input across heads, per-head does not") {
    auto w = test::synthetic_llama(64, 1, 4, 2, 96, 32, 7);
    pipeline::QuantScheme s;
    s.rotation = pipeline::RotationKind::kHadamard;
    auto quarot = w, per_head = w;
    auto const on_q = pipeline::transform_weights(quarot, s, 1);
    s.vo_rotation = pipeline::VoRotation::kPerHead;
    auto const on_p = pipeline::transform_weights(per_head, s, 1);
    CHECK(on_q.o_proj);
    CHECK_FALSE(on_p.o_proj);
    CHECK(on_q.down_proj);
    CHECK(on_p.down_proj);
    CHECK(per_head.layers[0].wv == quarot.layers[0].wv);                       // same V rotation
    CHECK((per_head.layers[0].wo - quarot.layers[0].wo).cwiseAbs().maxCoeff() > 1e-3f);  // O differs by T_d
    CHECK(s.describe().find("vo=per-head") != std::string::npos);
  }

  TEST_CASE("quantized model: linear inputs and K/V reaching the GEMMs lie on the 4-bit grid") {
    struct Spy : model::ForwardHooks {
      std::size_t max_distinct = 0, checked = 0;
      void count(MatrixView<float> x, std::size_t group) {
        for (std::size_t r = 0; r < x.rows(); ++r) {
          for (std::size_t g0 = 0; g0 < x.cols(); g0 += group) {
            std::set<float> values(x.row(r) + g0, x.row(r) + g0 + group);
            max_distinct = std::max(max_distinct, values.size());
            ++checked;
          }
        }
      }
      void linear_input(std::size_t, model::LinearInput site, MatrixView<float> x) override {
        if (site != model::LinearInput::kLmHead) count(x, x.cols());
      }
      void key(std::size_t, MatrixView<float> k) override { count(k, 16); }
      void value(std::size_t, MatrixView<float> v) override { count(v, 16); }
    } spy;
    auto const w = test::synthetic_llama(64, 1, 4, 2, 96, 30, 3);
    quantized_logits(w, w4a4kv4(pipeline::RotationKind::kHadamard), {1, 2, 3, 4, 5, 6, 7, 8, 9}, &spy);
    CHECK(spy.checked > 0);
    CHECK(spy.max_distinct <= 16);  // per token (per head for K/V): at most 2^4 levels
  }

  TEST_CASE("rotation: with massive channels, R1 makes per-token 4-bit activations far more accurate") {
    // Activations [tokens, 576] with three massive channels, as in LLaMA residual streams.
    std::size_t const n = 64, d = 576;
    Rng rng(test::seed());
    Eigen::MatrixXd x(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(d));
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.normal();
    for (Eigen::Index c : {5, 200, 433}) x.col(c) *= 60.0;
    auto error = [&](Eigen::MatrixXd const& q) {  // ‖Q(X·R)·Rᵀ − X‖ / ‖X‖ with 4-bit sym per token
      model::RowMatrixF xr = (x * q).cast<float>();
      MatrixView<float> v(xr.data(), n, d);
      quant::QuantConfig cfg;
      quant::fake_quantize_activations(v, v, cfg);
      return (xr.cast<double>() * q.transpose() - x).norm() / x.norm();
    };
    double const none = error(Eigen::MatrixXd::Identity(Eigen::Index(d), Eigen::Index(d)));
    double const rh = error(pipeline::make_residual_rotation(w4a4kv4(pipeline::RotationKind::kHadamard), d));
    double const ro = error(pipeline::make_residual_rotation(w4a4kv4(pipeline::RotationKind::kRandom), d));
    MESSAGE("relative 4-bit error: none ", none, ", random orthogonal ", ro, ", randomized Hadamard ", rh);
    CHECK(rh < 0.5 * none);
    CHECK(ro < 0.8 * none);
    CHECK(rh < ro);  // the papers' shape: randomized Hadamard beats random orthogonal (fixed seed)
  }

  TEST_CASE("QuantScheme: describe names every setting") {
    auto s = w4a4kv4(pipeline::RotationKind::kHadamard);
    s.act.clip_ratio = 0.9f;
    s.w_clip.enabled = true;
    std::string const d = s.describe();
    CHECK(d.find("W4A4K4V4") != std::string::npos);
    CHECK(d.find("rotate=hadamard") != std::string::npos);
    CHECK(d.find("clip 0.9") != std::string::npos);
    CHECK(d.find("mse-clip") != std::string::npos);
  }
}
