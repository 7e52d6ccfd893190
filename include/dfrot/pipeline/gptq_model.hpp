// SPDX-License-Identifier: Apache-2.0
// SequentialGptq / gptq_quantize_model: GPTQ of every decoder linear, layer by layer in the reference's "true
// sequential" order (ALGORITHMS.md §3.3), on calibration inputs taken from the partially
// quantized model with the online Hadamards active and the activation quantizers off.
#pragma once

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "dfrot/eval/calibration.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/pipeline/calibration_activations.hpp"
#include "dfrot/pipeline/online_transforms.hpp"
#include "dfrot/pipeline/quantized_linears.hpp"
#include "dfrot/quant/gptq.hpp"

namespace dfrot::pipeline {

/// Where one GPTQ group reads its inputs, and which linears share them (one Hessian per group).
enum class GptqGroup { kQkv, kOut, kGateUp, kDown };

constexpr std::string_view to_string(GptqGroup g) {
  switch (g) {
    case GptqGroup::kQkv: return "k/v/q_proj";
    case GptqGroup::kOut: return "o_proj";
    case GptqGroup::kGateUp: return "up/gate_proj";
    case GptqGroup::kDown: return "down_proj";
  }
  return "unknown";
}

struct GptqModelProgress {
  std::size_t layer = 0;
  std::size_t n_layers = 0;
  GptqGroup group = GptqGroup::kQkv;
  double seconds = 0;  ///< since the start
};

struct SequentialGptqOptions {
  quant::GptqConfig gptq;  ///< bits, symmetry, groups, clip search, damping, block size
  int n_threads = 0;
  /// float32 Hessian products summed in float64 (see HessianAccumulator::Products).
  quant::HessianAccumulator::Products products = quant::HessianAccumulator::Products::kFloat32Chunks;
  std::function<void(GptqModelProgress const&)> progress;
  /// When set, receives every linear's codes and scales (sized to the model by the solver).
  QuantizedLinears* codes = nullptr;
};

/// One quantized linear.
struct GptqLinearReport {
  std::string name;  ///< "layers.3.mlp.down_proj"
  double loss = 0;   ///< the reference's Σ (w − q)² / Hinv_ii² / 2
  std::size_t n_dead_columns = 0;
  bool damping_increased = false;
};

struct SequentialGptqReport {
  std::vector<GptqLinearReport> linears;
  std::size_t n_windows = 0;
  std::size_t n_tokens = 0;
  double seconds = 0;
  double hessian_seconds = 0;  ///< calibration forwards + Hessian accumulation
  double solve_seconds = 0;    ///< the GPTQ sweeps
};

namespace detail {

/// Applies the online transforms, then feeds the chosen site's inputs of one layer to a Hessian
/// and asks the forward pass to stop there (the rest of the layer is not needed yet).
class HessianCapture final : public model::ForwardHooks {
 public:
  HessianCapture(OnlineTransforms& online, std::size_t layer, model::LinearInput site,
                 quant::HessianAccumulator& acc, std::string name)
      : online_(online), layer_(layer), site_(site), acc_(acc), name_(std::move(name)) {}
  void reset() { done_ = false; }
  void linear_input(std::size_t l, model::LinearInput s, MatrixView<float> x) override {
    online_.linear_input(l, s, x);
    if (l == layer_ && s == site_) {
      acc_.add(x, 1, name_);
      done_ = true;
    }
  }
  void query(std::size_t l, MatrixView<float> q) override { online_.query(l, q); }
  void key(std::size_t l, MatrixView<float> k) override { online_.key(l, k); }
  void value(std::size_t l, MatrixView<float> v) override { online_.value(l, v); }
  bool stop_requested() const override { return done_; }

 private:
  OnlineTransforms& online_;
  std::size_t layer_;
  model::LinearInput site_;
  quant::HessianAccumulator& acc_;
  std::string name_;
  bool done_ = false;
};

}  // namespace detail

/// Sequential GPTQ one layer at a time. Per layer, in the order [k, v, q] → [o] → [up, gate] →
/// [down]: run every calibration window through the layer (with the groups done so far already
/// quantized), accumulate the group's Hessian from its linears' inputs, quantize the group; then
/// run the finished layer to produce the next layer's inputs. `online` must be the transforms the
/// weights were rotated for (transform_weights), so that o_proj's and down_proj's Hessians see the
/// Hadamard-rotated inputs. Only layer l's weights need to be in `m` while quantize_layer(l) runs,
/// and the embeddings only while the constructor runs: a model can be streamed through it.
class SequentialGptq {
 public:
  /// Embeds the calibration windows (kept in memory, or in a scratch file in `scratch_dir`).
  /// \throws ShapeError for no windows or windows longer than the model's positions.
  SequentialGptq(model::LlamaModel& m, OnlineTransformOptions const& online,
                 eval::CalibrationSet const& calib, SequentialGptqOptions opt,
                 std::filesystem::path const& scratch_dir = {})
      : m_(m), opt_(std::move(opt)), start_(Clock::now()), transforms_(m.config(), online),
        cache_(m.config(), max_window(m, calib)), xs_(window_rows(calib), m.config().hidden, scratch_dir) {
    model::ModelConfig const& c = m.config();
    if (opt_.codes != nullptr) opt_.codes->layers.resize(c.n_layers);
    report_.n_windows = calib.windows.size();
    report_.n_tokens = calib.n_tokens();
    for (std::size_t i = 0; i < calib.windows.size(); ++i) xs_.store(i, m.embed(calib.windows[i]));
    gcfg_ = opt_.gptq;
    gcfg_.n_threads = opt_.n_threads;
  }

  CalibrationActivations const& activations() const noexcept { return xs_; }
  /// The layer quantize_layer expects next; activations() are its inputs.
  std::size_t next_layer() const noexcept { return next_layer_; }

  /// Continues at layer l of an interrupted run: `restore(xs)` refills the activations with layer
  /// l's inputs (a CalibrationCheckpoint). \throws UsageError for l beyond the last layer.
  template <class Restore>
  void resume_at(std::size_t l, Restore&& restore) {
    DFROT_THROW_IF(l >= m_.config().n_layers, UsageError, "sequential gptq: resume at layer ", l, " of ",
                   m_.config().n_layers);
    std::forward<Restore>(restore)(xs_);
    next_layer_ = l;
  }

  /// GPTQ of layer l (layers in order, from 0), in place in m.weights().layers[l].
  /// \throws UsageError out of order, NumericError from GPTQ.
  void quantize_layer(std::size_t l) {
    DFROT_THROW_IF(l != next_layer_, UsageError, "sequential gptq: layer ", l, " after layer ", next_layer_);
    model::ModelConfig const& c = m_.config();
    model::ForwardOptions const fwd{.n_threads = opt_.n_threads};
    using LW = model::LayerWeights;
    struct Linear {
      char const* name;
      model::RowMatrix LW::*weight;
      LinearId id;
    };
    struct Group {
      GptqGroup group;
      model::LinearInput site;
      std::size_t width;
      std::vector<Linear> linears;
    };
    std::vector<Group> const groups = {
        {GptqGroup::kQkv, model::LinearInput::kAttention, c.hidden,
         {{"self_attn.k_proj", &LW::wk, LinearId::kK}, {"self_attn.v_proj", &LW::wv, LinearId::kV},
          {"self_attn.q_proj", &LW::wq, LinearId::kQ}}},
        {GptqGroup::kOut, model::LinearInput::kAttnOut, c.n_heads * c.head_dim,
         {{"self_attn.o_proj", &LW::wo, LinearId::kO}}},
        {GptqGroup::kGateUp, model::LinearInput::kMlp, c.hidden,
         {{"mlp.up_proj", &LW::w_up, LinearId::kUp}, {"mlp.gate_proj", &LW::w_gate, LinearId::kGate}}},
        {GptqGroup::kDown, model::LinearInput::kDown, c.intermediate, {{"mlp.down_proj", &LW::w_down, LinearId::kDown}}},
    };
    for (Group const& g : groups) {
      if (opt_.progress) opt_.progress({l, c.n_layers, g.group, seconds_since(start_)});
      auto const t0 = Clock::now();
      std::string const site_name = str_cat("layers.", l, ".", to_string(g.group));
      quant::HessianAccumulator acc(g.width, opt_.n_threads, opt_.products);
      detail::HessianCapture capture(transforms_, l, g.site, acc, site_name);
      for (std::size_t i = 0; i < xs_.size(); ++i) {
        model::RowMatrixF x = xs_.load(i);
        cache_.clear();
        capture.reset();
        m_.forward_layer(l, x, cache_, &capture, fwd);
      }
      Eigen::MatrixXd const h = std::move(acc).take_hessian();
      report_.hessian_seconds += seconds_since(t0);
      auto const t1 = Clock::now();
      for (Linear const& lin : g.linears) {
        model::RowMatrix& w = m_.weights().layers[l].*lin.weight;
        std::string const name = str_cat("layers.", l, ".", lin.name);
        MatrixView<float const> const wv(w.data(), static_cast<std::size_t>(w.rows()),
                                         static_cast<std::size_t>(w.cols()));
        quant::GptqResult r = quant::gptq_quantize(wv, h, gcfg_, name);
        std::copy(r.weights.begin(), r.weights.end(), w.data());
        if (opt_.codes != nullptr) opt_.codes->at(l, lin.id) = std::move(r.quantized);
        report_.linears.push_back({name, r.info.loss, r.info.n_dead_columns,
                                   r.info.status == quant::SolveStatus::kDampingIncreased});
      }
      report_.solve_seconds += seconds_since(t1);
    }
    // The finished layer's outputs are the next layer's calibration inputs.
    auto const t2 = Clock::now();
    for (std::size_t i = 0; i < xs_.size(); ++i) {
      model::RowMatrixF x = xs_.load(i);
      cache_.clear();
      m_.forward_layer(l, x, cache_, &transforms_, fwd);
      xs_.store(i, std::move(x));
    }
    report_.hessian_seconds += seconds_since(t2);
    ++next_layer_;
  }

  /// The report so far (seconds: since construction).
  SequentialGptqReport report() const {
    SequentialGptqReport r = report_;
    r.seconds = seconds_since(start_);
    return r;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }
  static std::size_t max_window(model::LlamaModel const& m, eval::CalibrationSet const& calib) {
    DFROT_THROW_IF(calib.windows.empty(), ShapeError, "gptq: no calibration windows");
    std::size_t max_len = 0;
    for (auto const& w : calib.windows) max_len = std::max(max_len, w.size());
    DFROT_THROW_IF(max_len > m.max_positions(), ShapeError, "gptq: calibration windows of ", max_len,
                   " tokens exceed the model's ", m.max_positions(), " positions");
    return max_len;
  }
  static std::vector<std::size_t> window_rows(eval::CalibrationSet const& calib) {
    std::vector<std::size_t> rows;
    for (auto const& w : calib.windows) rows.push_back(w.size());
    return rows;
  }

  model::LlamaModel& m_;
  SequentialGptqOptions opt_;
  Clock::time_point start_;
  OnlineTransforms transforms_;
  model::KvCache cache_;
  CalibrationActivations xs_;
  quant::GptqConfig gcfg_;
  SequentialGptqReport report_;
  std::size_t next_layer_ = 0;
};

/// GPTQ-quantizes the weights of every decoder layer of `m` in place (lm_head and embeddings stay
/// FP), layer after layer (SequentialGptq).
/// \throws ShapeError for windows longer than the model's positions, NumericError from GPTQ.
inline SequentialGptqReport gptq_quantize_model(model::LlamaModel& m,
                                                OnlineTransformOptions const& online,
                                                eval::CalibrationSet const& calib,
                                                SequentialGptqOptions const& opt) {
  SequentialGptq gptq(m, online, calib, opt);
  for (std::size_t l = 0; l < m.config().n_layers; ++l) gptq.quantize_layer(l);
  return gptq.report();
}

}  // namespace dfrot::pipeline
