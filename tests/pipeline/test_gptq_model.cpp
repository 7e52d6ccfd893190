// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <set>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/pipeline/gptq_model.hpp"
#include "dfrot/pipeline/quantized_model.hpp"
#include "model/synthetic_model.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

namespace {

eval::CalibrationSet random_windows(std::size_t n, std::size_t len, std::size_t vocab,
                                    std::uint64_t seed) {
  Rng rng(seed);
  eval::CalibrationSet set;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<int> w(len);
    for (int& t : w) t = static_cast<int>(rng.uniform_int(vocab));
    set.windows.push_back(std::move(w));
    set.starts.push_back(0);
  }
  return set;
}

/// Captures the inputs of one (layer, site) during full-model forwards, after online transforms.
struct FullForwardCapture : model::ForwardHooks {
  pipeline::OnlineTransforms* online;
  std::size_t layer;
  model::LinearInput site;
  quant::HessianAccumulator* acc;
  void linear_input(std::size_t l, model::LinearInput s, MatrixView<float> x) override {
    online->linear_input(l, s, x);
    if (l == layer && s == site) acc->add(x);
  }
  void query(std::size_t l, MatrixView<float> q) override { online->query(l, q); }
  void key(std::size_t l, MatrixView<float> k) override { online->key(l, k); }
};

/// An independent, slow "true sequential" GPTQ: every group's Hessian comes from complete model
/// forwards from the embeddings (no layer-by-layer state), so it checks the driver's bookkeeping.
void reference_sequential_gptq(model::LlamaModel& m, pipeline::OnlineTransformOptions const& online,
                               eval::CalibrationSet const& calib, quant::GptqConfig const& cfg) {
  auto const& c = m.config();
  using LW = model::LayerWeights;
  struct G {
    model::LinearInput site;
    std::size_t width;
    std::vector<model::RowMatrix LW::*> ws;
  };
  std::vector<G> const groups = {{model::LinearInput::kAttention, c.hidden, {&LW::wk, &LW::wv, &LW::wq}},
                                 {model::LinearInput::kAttnOut, c.hidden, {&LW::wo}},
                                 {model::LinearInput::kMlp, c.hidden, {&LW::w_up, &LW::w_gate}},
                                 {model::LinearInput::kDown, c.intermediate, {&LW::w_down}}};
  pipeline::OnlineTransforms transforms(c, online);
  for (std::size_t l = 0; l < c.n_layers; ++l) {
    for (G const& g : groups) {
      quant::HessianAccumulator acc(g.width);
      FullForwardCapture cap;
      cap.online = &transforms;
      cap.layer = l;
      cap.site = g.site;
      cap.acc = &acc;
      for (auto const& w : calib.windows) {
        auto cache = m.make_cache();
        m.forward_hidden(w, cache, &cap);
      }
      for (auto member : g.ws) {
        model::RowMatrix& wt = m.weights().layers[l].*member;
        auto const r = quant::gptq_quantize(
            MatrixView<float const>(wt.data(), std::size_t(wt.rows()), std::size_t(wt.cols())),
            acc, cfg, "ref");
        std::copy(r.weights.begin(), r.weights.end(), wt.data());
      }
    }
  }
}

}  // namespace

TEST_SUITE("pipeline") {
  TEST_CASE("gptq model: the layer-by-layer driver equals GPTQ on full-model forwards") {
    auto w = test::synthetic_llama(64, 2, 4, 2, 96, 40, test::seed());
    pipeline::QuantScheme s;
    s.rotation = pipeline::RotationKind::kHadamard;
    s.w_bits = 4;
    s.k_bits = 4;  // makes the QK Hadamard part of the online transforms
    auto const online = pipeline::transform_weights(w, s, 1);
    auto const calib = random_windows(3, 24, 40, 7);
    model::LlamaModel driver(w, 64), reference(w, 64);
    pipeline::SequentialGptqOptions o;
    o.gptq = pipeline::gptq_config(s);
    o.n_threads = 1;
    o.products = quant::HessianAccumulator::Products::kFloat64;
    std::size_t calls = 0;
    o.progress = [&](pipeline::GptqModelProgress const&) { ++calls; };
    auto const report = pipeline::gptq_quantize_model(driver, online, calib, o);
    reference_sequential_gptq(reference, online, calib, o.gptq);
    CHECK(calls == 2 * 4);
    REQUIRE(report.linears.size() == 2 * 7);
    CHECK(report.linears[0].name == "layers.0.self_attn.k_proj");
    CHECK(report.linears.back().name == "layers.1.mlp.down_proj");
    CHECK(report.n_tokens == 3 * 24);
    for (std::size_t l = 0; l < 2; ++l) {
      auto const& a = driver.weights().layers[l];
      auto const& b = reference.weights().layers[l];
      CHECK((a.wq - b.wq).cwiseAbs().maxCoeff() <= 1e-6f);
      CHECK((a.wk - b.wk).cwiseAbs().maxCoeff() <= 1e-6f);
      CHECK((a.wv - b.wv).cwiseAbs().maxCoeff() <= 1e-6f);
      CHECK((a.wo - b.wo).cwiseAbs().maxCoeff() <= 1e-6f);
      CHECK((a.w_gate - b.w_gate).cwiseAbs().maxCoeff() <= 1e-6f);
      CHECK((a.w_up - b.w_up).cwiseAbs().maxCoeff() <= 1e-6f);
      CHECK((a.w_down - b.w_down).cwiseAbs().maxCoeff() <= 1e-6f);
    }
  }

  TEST_CASE("gptq model: weights land on the 4-bit grid and beat RTN on the calibration text") {
    auto w = test::synthetic_llama(64, 2, 4, 2, 128, 48, test::seed() + 1);
    model::LlamaModel const fp(w, 64);
    pipeline::QuantScheme s;
    s.rotation = pipeline::RotationKind::kHadamard;
    s.w_bits = 4;
    auto const calib = random_windows(4, 32, 48, 11);
    auto quantized = [&](pipeline::WeightMethod method) {
      model::LlamaWeights copy = w;
      s.weight_method = method;
      auto const online = pipeline::transform_weights(copy, s, 1);
      auto m = std::make_unique<model::LlamaModel>(std::move(copy), 64);
      pipeline::quantize_weights(*m, s, online, &calib, 2);
      return std::make_pair(std::move(m), online);
    };
    auto [gptq, online_g] = quantized(pipeline::WeightMethod::kGptq);
    auto [rtn, online_r] = quantized(pipeline::WeightMethod::kRtn);
    for (auto const& l : gptq->weights().layers) {
      for (model::RowMatrix const* m : {&l.wq, &l.wo, &l.w_down}) {
        std::size_t most = 0;
        for (Eigen::Index r = 0; r < m->rows(); ++r) {
          std::set<float> levels(m->row(r).data(), m->row(r).data() + m->cols());
          most = std::max(most, levels.size());
        }
        CHECK(most <= 16);  // symmetric 4-bit: codes −8 … 7 (GPTQ updates can reach −8)
      }
    }
    // Output error on held-in text: GPTQ minimizes exactly this layer-wise, RTN does not.
    double err_g = 0, err_r = 0;
    for (auto const& win : calib.windows) {
      auto c0 = fp.make_cache(), c1 = gptq->make_cache(), c2 = rtn->make_cache();
      pipeline::OnlineTransforms tg(gptq->config(), online_g), tr(rtn->config(), online_r);
      auto const ref = fp.forward(win, c0);
      err_g += double((gptq->forward(win, c1, &tg) - ref).squaredNorm());
      err_r += double((rtn->forward(win, c2, &tr) - ref).squaredNorm());
    }
    MESSAGE("logit error: gptq ", err_g, " rtn ", err_r);
    CHECK(err_g < 0.8 * err_r);
  }

  TEST_CASE("gptq model: GPTQ without calibration windows is a usage error") {
    auto w = test::synthetic_llama(64, 1, 4, 2, 96, 32, 5);
    pipeline::QuantScheme s;
    s.w_bits = 4;
    s.weight_method = pipeline::WeightMethod::kGptq;
    model::LlamaModel m(w, 64);
    CHECK_THROWS_AS(pipeline::quantize_weights(m, s, {}, nullptr, 1), UsageError);
  }

  TEST_CASE("forward_layer: layer-by-layer equals forward_hidden; a stop request ends the layer") {
    auto w = test::synthetic_llama(64, 3, 4, 2, 96, 32, 9);
    model::LlamaModel const m(w, 64);
    std::vector<int> const tokens = {3, 1, 4, 1, 5, 9, 2, 6};
    auto c0 = m.make_cache();
    auto const full = m.forward_hidden(tokens, c0);
    auto c1 = m.make_cache();
    model::RowMatrixF x = m.embed(tokens);
    for (std::size_t l = 0; l < 3; ++l) CHECK(m.forward_layer(l, x, c1));
    c1.commit(tokens.size());
    CHECK((m.final_norm(x) - full).cwiseAbs().maxCoeff() == 0.0f);
    struct Stop : model::ForwardHooks {
      std::size_t seen = 0;
      void linear_input(std::size_t, model::LinearInput, MatrixView<float>) override { ++seen; }
      bool stop_requested() const override { return seen >= 2; }
    } stop;
    auto c2 = m.make_cache();
    model::RowMatrixF y = m.embed(tokens);
    CHECK_FALSE(m.forward_layer(0, y, c2, &stop));
    CHECK(stop.seen == 2);
    CHECK_THROWS_AS(m.forward_layer(3, y, c2), ShapeError);
    CHECK_THROWS_AS(m.embed(std::vector<int>{32}), ShapeError);
  }
}
