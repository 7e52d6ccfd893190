// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <optional>
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

/// The same capture on the quantized path: the run-time quantizers run first, so the Hessian sees
/// each site's input quantized as at inference.
struct QuantizedForwardCapture : model::ForwardHooks {
  pipeline::QuantizationHooks* q;
  std::size_t layer;
  model::LinearInput site;
  quant::HessianAccumulator* acc;
  void linear_input(std::size_t l, model::LinearInput s, MatrixView<float> x) override {
    q->linear_input(l, s, x);
    if (l == layer && s == site) acc->add(x);
  }
  void query(std::size_t l, MatrixView<float> x) override { q->query(l, x); }
  void key(std::size_t l, MatrixView<float> k) override { q->key(l, k); }
  void value(std::size_t l, MatrixView<float> v) override { q->value(l, v); }
};

/// An independent, slow "true sequential" GPTQ: every group's Hessian comes from complete model
/// forwards from the embeddings (no layer-by-layer state), so it checks the driver's bookkeeping.
void reference_sequential_gptq(model::LlamaModel& m, pipeline::OnlineTransformOptions const& online,
                               eval::CalibrationSet const& calib, quant::GptqConfig const& cfg,
                               pipeline::QuantScheme const* quantized_inputs = nullptr) {
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
      std::optional<pipeline::QuantizationHooks> q;
      QuantizedForwardCapture qcap;
      if (quantized_inputs != nullptr) {
        q.emplace(c, *quantized_inputs, online);
        qcap.q = &*q;
        qcap.layer = l;
        qcap.site = g.site;
        qcap.acc = &acc;
      }
      for (auto const& w : calib.windows) {
        auto cache = m.make_cache();
        if (quantized_inputs != nullptr) m.forward_hidden(w, cache, &qcap);
        else m.forward_hidden(w, cache, &cap);
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

/// Every linear of two layers agrees to 1e-6.
void check_same_linears(model::LayerWeights const& a, model::LayerWeights const& b) {
  for (model::RowMatrix model::LayerWeights::*w :
       {&model::LayerWeights::wq, &model::LayerWeights::wk, &model::LayerWeights::wv, &model::LayerWeights::wo,
        &model::LayerWeights::w_gate, &model::LayerWeights::w_up, &model::LayerWeights::w_down}) {
    CHECK(((a.*w) - (b.*w)).cwiseAbs().maxCoeff() <= 1e-6f);
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
      check_same_linears(a, b);
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

  TEST_CASE("gptq fp target: the error against FP outputs is the least-squares residual plus GPTQ's objective") {
    // ||X·Wᵀ − X̃·Ŵᵀ||² = ||X·Wᵀ − X̃·W*ᵀ||² + ||X̃·(W* − Ŵ)ᵀ||² for any Ŵ (no damping), in float64.
    Rng rng(test::seed());
    Eigen::Index const n = 200, d = 12, n_out = 5;
    Eigen::MatrixXd x(n, d), noise(n, d);
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index j = 0; j < d; ++j) {
        x(i, j) = rng.normal();
        noise(i, j) = 0.2 * rng.normal();
      }
    Eigen::MatrixXd const xq = x + noise;
    model::RowMatrix w(n_out, d), w_hat(n_out, d);
    for (Eigen::Index i = 0; i < n_out; ++i)
      for (Eigen::Index j = 0; j < d; ++j) {
        w(i, j) = static_cast<float>(rng.normal());
        w_hat(i, j) = static_cast<float>(rng.normal());
      }
    double const scale = 2.0 / 7.0;  // any common scale (GPTQ's 2/N) cancels
    Eigen::MatrixXd const cross = scale * (x.transpose() * xq), h = scale * (xq.transpose() * xq);
    Eigen::MatrixXd const w_star = pipeline::fp_target_weights(w, cross, h, 0.0, "test").cast<double>();
    Eigen::MatrixXd const wd = w.cast<double>(), whd = w_hat.cast<double>();
    Eigen::MatrixXd const y = x * wd.transpose();
    double const total = (y - xq * whd.transpose()).squaredNorm();
    double const residual = (y - xq * w_star.transpose()).squaredNorm();
    double const objective = (xq * (w_star - whd).transpose()).squaredNorm();
    // (W* is rounded to float32: the split holds to float32 precision of W*.)
    CHECK(std::abs(total - (residual + objective)) <= 1e-5 * total);
    CHECK(residual < (y - xq * wd.transpose()).squaredNorm());  // W* fits the FP outputs better than W
    // Normal equations: X̃ᵀ(X·Wᵀ − X̃·W*ᵀ) = 0.
    CHECK((xq.transpose() * (y - xq * w_star.transpose())).cwiseAbs().maxCoeff() <= 1e-4 * y.norm());
    // NaN in the statistics: an error naming the linear.
    Eigen::MatrixXd bad = h;
    bad(0, 0) = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH_AS((void)pipeline::fp_target_weights(w, cross, bad, 0.01, "layers.4.mlp.up_proj"),
                         doctest::Contains("layers.4.mlp.up_proj"), NumericError);
  }

  TEST_CASE("gptq model: with quantized inputs the driver equals GPTQ on full-model forwards with the quantizers on") {
    auto w = test::synthetic_llama(64, 2, 4, 2, 96, 40, test::seed() + 5);
    pipeline::QuantScheme s;
    s.rotation = pipeline::RotationKind::kHadamard;
    s.w_bits = s.a_bits = s.k_bits = s.v_bits = 4;
    s.act.clip_ratio = 0.9f;
    s.k.symmetry = s.v.symmetry = quant::Symmetry::kAsym;
    auto const online = pipeline::transform_weights(w, s, 1);
    auto const calib = random_windows(3, 24, 40, 8);
    model::LlamaModel driver(w, 64), reference(w, 64), plain(w, 64);
    pipeline::SequentialGptqOptions o;
    o.gptq = pipeline::gptq_config(s);
    o.n_threads = 1;
    o.products = quant::HessianAccumulator::Products::kFloat64;
    o.scheme = s;
    o.calibration.quantized_inputs = true;
    (void)pipeline::gptq_quantize_model(driver, online, calib, o);
    reference_sequential_gptq(reference, online, calib, o.gptq, &s);
    o.calibration.quantized_inputs = false;
    (void)pipeline::gptq_quantize_model(plain, online, calib, o);
    double changed = 0;
    for (std::size_t l = 0; l < 2; ++l) {
      auto const& a = driver.weights().layers[l];
      auto const& b = reference.weights().layers[l];
      check_same_linears(a, b);
      changed += double((a.w_down - plain.weights().layers[l].w_down).cwiseAbs().maxCoeff());
    }
    CHECK(changed > 0);  // the quantized inputs do change GPTQ's result
  }

  TEST_CASE("learned clipping: each ratio has the least output error of the grid and the model follows it") {
    auto w = test::synthetic_llama(64, 2, 4, 2, 96, 40, test::seed() + 6);
    pipeline::QuantScheme s;
    s.rotation = pipeline::RotationKind::kHadamard;
    s.w_bits = s.a_bits = s.k_bits = s.v_bits = 4;
    s.act.clip_ratio = 0.9f;
    s.k.clip_ratio = s.v.clip_ratio = 0.95f;
    auto const online = pipeline::transform_weights(w, s, 1);
    model::LlamaWeights const fp_weights = w;
    auto const calib = random_windows(3, 24, 40, 9);
    model::LlamaModel m(w, 64);
    pipeline::SequentialGptqOptions o;
    o.gptq = pipeline::gptq_config(s);
    o.n_threads = 1;
    o.scheme = s;
    o.calibration.quantized_inputs = true;
    o.calibration.learn_act_clip = true;
    auto const report = pipeline::gptq_quantize_model(m, online, calib, o);
    REQUIRE(report.clip.size() == 2);
    REQUIRE(report.clip_search.size() == 2 * 4);
    auto const grid = pipeline::SequentialGptqOptions::default_clip_grid();
    for (auto const& layer : report.clip) {
      for (std::size_t i = 0; i < 4; ++i) {
        CHECK(layer[i] > 0.0f);
        CHECK(layer[i] <= 1.0f);
        CHECK(std::find(grid.begin(), grid.end(), layer[i]) != grid.end());
      }
      CHECK(layer[static_cast<std::size_t>(pipeline::QuantSite::kKey)] == 0.95f);
      CHECK(layer[static_cast<std::size_t>(pipeline::QuantSite::kValue)] == 0.95f);
    }
    for (auto const& c : report.clip_search) CHECK(c.error <= c.scheme_error);
    CHECK(report.clip_search[0].site == "layers.0.qkv_input");

    // Layer 0's q/k/v input, independently: RMSNorm of the embeddings, the grid's errors against
    // the FP weights on the first two windows; the driver's ratio is the argmin.
    model::LlamaModel const fp(fp_weights, 64);
    pipeline::OnlineTransforms transforms(fp.config(), online);
    std::vector<model::RowMatrixF> inputs;
    struct Grab : model::ForwardHooks {
      pipeline::OnlineTransforms* t;
      std::vector<model::RowMatrixF>* out;
      void linear_input(std::size_t l, model::LinearInput site, MatrixView<float> x) override {
        t->linear_input(l, site, x);
        if (l == 0 && site == model::LinearInput::kAttention) {
          model::RowMatrixF c(static_cast<Eigen::Index>(x.rows()), static_cast<Eigen::Index>(x.cols()));
          for (std::size_t r = 0; r < x.rows(); ++r)
            std::copy_n(x.row(r), x.cols(), c.row(static_cast<Eigen::Index>(r)).data());
          out->push_back(std::move(c));
        }
      }
      void query(std::size_t l, MatrixView<float> q) override { t->query(l, q); }
      void key(std::size_t l, MatrixView<float> k) override { t->key(l, k); }
      bool stop_requested() const override { return !out->empty(); }
    };
    for (std::size_t i = 0; i < 2; ++i) {
      Grab g;
      g.t = &transforms;
      std::vector<model::RowMatrixF> one;
      g.out = &one;
      auto cache = fp.make_cache();
      (void)fp.forward_hidden(calib.windows[i], cache, &g);
      inputs.push_back(std::move(one.at(0)));
    }
    auto const& l0 = fp_weights.layers[0];
    std::vector<double> err;
    for (float const ratio : grid) {
      quant::QuantConfig cfg = s.act;
      cfg.bits = 4;
      cfg.clip_ratio = ratio;
      double e = 0;
      for (auto const& x : inputs) {
        model::RowMatrixF xq(x.rows(), x.cols());
        quant::fake_quantize_activations(MatrixView<float const>(x.data(), std::size_t(x.rows()), std::size_t(x.cols())),
                                         MatrixView<float>(xq.data(), std::size_t(xq.rows()), std::size_t(xq.cols())), cfg, 1);
        for (model::RowMatrix const* lw : {&l0.wk, &l0.wv, &l0.wq})
          e += double((x * lw->transpose() - xq * lw->transpose()).squaredNorm());
      }
      err.push_back(e);
    }
    std::size_t const best = static_cast<std::size_t>(std::min_element(err.begin(), err.end()) - err.begin());
    CHECK(report.clip[0][0] == grid[best]);
    CHECK(report.clip_search[0].error == doctest::Approx(err[best]).epsilon(1e-5));
    CHECK(report.clip_search[0].scheme_error == doctest::Approx(err[2]).epsilon(1e-5));  // 0.9 is grid[2]
  }

  TEST_CASE("gptq calibration: the FP target and learned clipping beat the reference on held-in text") {
    auto w = test::synthetic_llama(64, 2, 4, 2, 128, 48, test::seed() + 7);
    model::LlamaModel const fp(w, 64);
    pipeline::QuantScheme s;
    s.rotation = pipeline::RotationKind::kHadamard;
    s.w_bits = s.a_bits = s.k_bits = s.v_bits = 4;
    s.weight_method = pipeline::WeightMethod::kGptq;
    s.act.clip_ratio = 0.9f;
    auto const calib = random_windows(4, 32, 48, 12);
    auto error_of = [&](pipeline::GptqCalibration cal) {
      model::LlamaWeights copy = w;
      pipeline::QuantScheme sc = s;
      sc.gptq = cal;
      auto const online = pipeline::transform_weights(copy, sc, 1);
      model::LlamaModel m(std::move(copy), 64);
      auto const r = pipeline::quantize_weights(m, sc, online, &calib, 2);
      pipeline::QuantizerPlan plan;
      plan.clip = r.clip;
      pipeline::QuantizationHooks hooks(m.config(), sc, online, r.clip.empty() ? nullptr : &plan);
      double e = 0;
      for (auto const& win : calib.windows) {
        auto c0 = fp.make_cache(), c1 = m.make_cache();
        e += double((m.forward(win, c1, &hooks) - fp.forward(win, c0)).squaredNorm());
      }
      return e;
    };
    double const reference = error_of({});
    double const fp_target = error_of({.quantized_inputs = true, .fp_target = true});
    double const lac = error_of({.quantized_inputs = true, .fp_target = true, .learn_act_clip = true});
    MESSAGE("logit error: reference ", reference, ", quantized inputs + fp target ", fp_target, ", + lac ", lac);
    CHECK(fp_target < reference);
    CHECK(lac < reference);
  }

  TEST_CASE("gptq calibration: bad options are usage errors, NaN stops with the layer's name") {
    auto w = test::synthetic_llama(64, 2, 4, 2, 96, 40, 21);
    pipeline::QuantScheme s;
    s.w_bits = s.a_bits = 4;
    auto const calib = random_windows(2, 16, 40, 3);
    model::LlamaModel m(w, 64);
    pipeline::SequentialGptqOptions o;
    o.gptq = pipeline::gptq_config(s);
    o.scheme = s;
    o.calibration.learn_act_clip = true;  // without quantized inputs
    CHECK_THROWS_AS(pipeline::SequentialGptq(m, {}, calib, o), UsageError);
    o.calibration.quantized_inputs = true;
    o.clip_grid = {1.0f, 1.2f};
    CHECK_THROWS_AS(pipeline::SequentialGptq(m, {}, calib, o), UsageError);
    o.clip_grid = pipeline::SequentialGptqOptions::default_clip_grid();
    o.scheme.a_bits = 16;
    CHECK_THROWS_AS(pipeline::SequentialGptq(m, {}, calib, o), UsageError);
    o.scheme.a_bits = 4;
    o.calibration.fp_target = true;
    pipeline::SequentialGptq resumable(m, {}, calib, o);
    CHECK_THROWS_AS(resumable.resume_at(1, [](pipeline::CalibrationActivations&) {}), UsageError);
    // A NaN weight in layer 1's o_proj: learned clipping names the site.
    m.weights().layers[1].wo(0, 0) = std::numeric_limits<float>::quiet_NaN();
    pipeline::SequentialGptq g(m, {}, calib, o);
    g.quantize_layer(0);
    CHECK_THROWS_WITH_AS(g.quantize_layer(1), doctest::Contains("layers.1.o_proj_input"), NumericError);
  }
}
