// SPDX-License-Identifier: Apache-2.0
// SequentialGptq / gptq_quantize_model: GPTQ of every decoder linear, layer by layer in the reference's "true
// sequential" order (ALGORITHMS.md §3.3), on calibration inputs taken from the partially
// quantized model with the online Hadamards active and the activation quantizers off — or, with
// the scheme's GptqCalibration, on inputs quantized as at inference, fitted to the FP model's
// outputs, with learned activation clip ratios.
#pragma once

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dfrot/eval/calibration.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/pipeline/calibration_activations.hpp"
#include "dfrot/pipeline/online_transforms.hpp"
#include "dfrot/pipeline/quantization_hooks.hpp"
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
  /// The run-time quantizers (a_bits, act, k, v) and `calibration` switches; only read when one of
  /// calibration.quantized_inputs / fp_target / learn_act_clip is set.
  QuantScheme scheme{};
  GptqCalibration calibration{};
  /// Learned clipping: the candidate ratios (descending; ties keep the larger) and how many
  /// calibration windows the search uses (the Hessians always use all of them).
  std::vector<float> clip_grid = default_clip_grid();
  std::size_t clip_windows = 2;

  static std::vector<float> default_clip_grid() {
    return {1.0f, 0.95f, 0.9f, 0.85f, 0.8f, 0.75f, 0.7f, 0.65f, 0.6f, 0.55f, 0.5f};
  }
};

/// One learned clip ratio: the group's output error at the scheme's ratio and at the chosen one.
struct LearnedClip {
  std::string site;  ///< "layers.3.down_proj_input"
  float scheme_ratio = 1;
  float ratio = 1;
  double scheme_error = 0;  ///< ||X·Wᵀ − Q(X̃)·Wᵀ||² on the search windows
  double error = 0;
};

/// One quantized linear.
struct GptqLinearReport {
  std::string name;  ///< "layers.3.mlp.down_proj"
  double loss = 0;   ///< the reference's Σ (w − q)² / Hinv_ii² / 2
  std::size_t n_dead_columns = 0;
  bool damping_increased = false;
  double target_growth = 1;  ///< least-squares target: max|W*| / max|W| (1 otherwise)
};

struct SequentialGptqReport {
  std::vector<GptqLinearReport> linears;
  std::size_t n_windows = 0;
  std::size_t n_tokens = 0;
  double seconds = 0;
  double hessian_seconds = 0;  ///< calibration forwards + Hessian accumulation
  double solve_seconds = 0;    ///< the GPTQ sweeps
  double clip_seconds = 0;     ///< learned clipping (captures + candidate errors)
  /// Learned clipping: every layer's ratios (activation sites learned, K/V the scheme's) and the
  /// search behind each activation site; empty without --lac.
  std::vector<std::array<float, kQuantSites>> clip;
  std::vector<LearnedClip> clip_search;
};

namespace detail {

/// Runs one layer up to a linear-input site through `path` (the hooks of the calibration path:
/// online transforms, and the run-time quantizers on the quantized path), and keeps that site's
/// input with only the online transform applied — before its own quantizer, which the caller
/// applies with the candidate or learned clip ratio. The forward pass stops there.
class SiteCapture final : public model::ForwardHooks {
 public:
  SiteCapture(model::ForwardHooks& path, OnlineTransforms& online, std::size_t layer, model::LinearInput site)
      : path_(path), online_(online), layer_(layer), site_(site) {}
  void linear_input(std::size_t l, model::LinearInput s, MatrixView<float> x) override {
    if (l != layer_ || s != site_) {
      path_.linear_input(l, s, x);
      return;
    }
    online_.linear_input(l, s, x);
    captured_.resize(static_cast<Eigen::Index>(x.rows()), static_cast<Eigen::Index>(x.cols()));
    for (std::size_t r = 0; r < x.rows(); ++r)
      std::copy_n(x.row(r), x.cols(), captured_.row(static_cast<Eigen::Index>(r)).data());
    done_ = true;
  }
  void query(std::size_t l, MatrixView<float> q) override { path_.query(l, q); }
  void key(std::size_t l, MatrixView<float> k) override { path_.key(l, k); }
  void value(std::size_t l, MatrixView<float> v) override { path_.value(l, v); }
  bool stop_requested() const override { return done_; }
  bool done() const noexcept { return done_; }
  model::RowMatrixF take() && { return std::move(captured_); }

 private:
  model::ForwardHooks& path_;
  OnlineTransforms& online_;
  std::size_t layer_;
  model::LinearInput site_;
  model::RowMatrixF captured_;
  bool done_ = false;
};

inline MatrixView<float> view_of(model::RowMatrixF& x) {
  return {x.data(), static_cast<std::size_t>(x.rows()), static_cast<std::size_t>(x.cols())};
}
inline MatrixView<float const> const_view_of(model::RowMatrixF const& x) {
  return {x.data(), static_cast<std::size_t>(x.rows()), static_cast<std::size_t>(x.cols())};
}

/// Swaps layer l's weights with `other` for a scope (the FP path runs the unquantized copy).
class LayerSwap {
 public:
  LayerSwap(model::LlamaWeights& w, std::size_t l, model::LayerWeights& other) : a_(w.layers.at(l)), b_(other) {
    std::swap(a_, b_);
  }
  ~LayerSwap() { std::swap(a_, b_); }
  LayerSwap(LayerSwap const&) = delete;
  LayerSwap& operator=(LayerSwap const&) = delete;

 private:
  model::LayerWeights& a_;
  model::LayerWeights& b_;
};

/// sum += xᵀ·y for two [tokens × d] inputs: float32 GEMMs over chunks of
/// HessianAccumulator::kChunkTokens tokens summed in float64 (the Hessian's own precision scheme).
inline void accumulate_cross(Eigen::MatrixXd& sum, model::RowMatrixF const& x, model::RowMatrixF const& y) {
  Eigen::Index const chunk = static_cast<Eigen::Index>(quant::HessianAccumulator::kChunkTokens);
  Eigen::MatrixXf part;
  for (Eigen::Index t0 = 0; t0 < x.rows(); t0 += chunk) {
    Eigen::Index const n = std::min(chunk, x.rows() - t0);
    part.noalias() = x.middleRows(t0, n).transpose() * y.middleRows(t0, n);
    sum += part.cast<double>();
  }
}

}  // namespace detail

/// The FP-target weights of GPTQ with asymmetric calibration: with X the FP model's inputs and X̃
/// the quantized path's, ||X·Wᵀ − X̃·Ŵᵀ||² = ||X·Wᵀ − X̃·W*ᵀ||² + ||X̃·(W* − Ŵ)ᵀ||² for the
/// least-squares W* = W·C·H⁻¹ (C = XᵀX̃, H = X̃ᵀX̃, both scaled like the GPTQ Hessian), so GPTQ of
/// W* on H minimizes the error against the FP outputs. H is damped by percdamp·mean(diag H), as in
/// GPTQ. \throws NumericError naming `name` for a non-finite result or an H that stays singular.
inline model::RowMatrix fp_target_weights(model::RowMatrix const& w, Eigen::MatrixXd const& cross,
                                          Eigen::MatrixXd const& h, double percdamp, std::string_view name) {
  DFROT_THROW_IF(cross.rows() != w.cols() || cross.cols() != w.cols() || h.rows() != w.cols() || h.cols() != w.cols(),
                 ShapeError, "gptq fp target '", name, "': weights have ", w.cols(), " columns, the statistics are ",
                 cross.rows(), "×", cross.cols(), " and ", h.rows(), "×", h.cols());
  Eigen::MatrixXd a = h;
  double diag_sum = 0;
  for (Eigen::Index i = 0; i < a.rows(); ++i) diag_sum += a(i, i);
  double const mean_diag = a.rows() > 0 ? diag_sum / static_cast<double>(a.rows()) : 0.0;
  DFROT_THROW_IF(!std::isfinite(mean_diag), NumericError, "gptq fp target '", name, "': the Hessian is not finite");
  a.diagonal().array() += percdamp * mean_diag + (mean_diag > 0 ? 0.0 : 1e-12);
  Eigen::LLT<Eigen::MatrixXd> const llt(a);
  DFROT_THROW_IF(llt.info() != Eigen::Success, NumericError, "gptq fp target '", name,
                 "': the damped Hessian is not positive definite");
  Eigen::MatrixXd const sol = llt.solve(cross.transpose() * w.cast<double>().transpose());
  DFROT_THROW_IF(!sol.allFinite(), NumericError, "gptq fp target '", name, "': the least-squares weights are not finite");
  return sol.transpose().cast<float>();
}


/// Sequential GPTQ one layer at a time. Per layer, in the order [k, v, q] → [o] → [up, gate] →
/// [down]: run every calibration window through the layer (with the groups done so far already
/// quantized), accumulate the group's Hessian from its linears' inputs, quantize the group; then
/// run the finished layer to produce the next layer's inputs. `online` must be the transforms the
/// weights were rotated for (transform_weights), so that o_proj's and down_proj's Hessians see the
/// Hadamard-rotated inputs. Only layer l's weights need to be in `m` while quantize_layer(l) runs,
/// and the embeddings only while the constructor runs: a model can be streamed through it.
///
/// With opt.calibration (GptqCalibration): quantized_inputs runs the calibration path with the
/// scheme's activation and KV quantizers (QuantizationHooks), so the Hessians see X̃ = Q(X) and
/// every later layer the quantized model's own activations; fp_target also carries the FP model's
/// activations (a second set, through an unquantized copy of each layer) and fits each group to
/// the FP outputs (fp_target_weights); learn_act_clip picks each linear-input site's clip ratio on
/// the group's output error before its Hessian is built, and the quantized path uses it from then on.
class SequentialGptq {
 public:
  /// Embeds the calibration windows (kept in memory, or in a scratch file in `scratch_dir`).
  /// \throws ShapeError for no windows or windows longer than the model's positions, UsageError
  /// for learned clipping without quantized inputs or an empty / out-of-range clip grid.
  SequentialGptq(model::LlamaModel& m, OnlineTransformOptions const& online,
                 eval::CalibrationSet const& calib, SequentialGptqOptions opt,
                 std::filesystem::path const& scratch_dir = {})
      : m_(m), opt_(std::move(opt)), start_(Clock::now()), transforms_(m.config(), online),
        cache_(m.config(), max_window(m, calib)), xs_(window_rows(calib), m.config().hidden, scratch_dir) {
    model::ModelConfig const& c = m.config();
    GptqCalibration const& cal = opt_.calibration;
    DFROT_THROW_IF(cal.learn_act_clip && !cal.quantized_inputs, UsageError,
                   "sequential gptq: learned activation clipping needs the quantized-input calibration path");
    DFROT_THROW_IF(cal.input_target && (!cal.quantized_inputs || cal.fp_target), UsageError,
                   "sequential gptq: the input target needs the quantized-input path and excludes the FP target");
    DFROT_THROW_IF(cal.learn_act_clip && opt_.scheme.a_bits >= 16, UsageError,
                   "sequential gptq: learned activation clipping with activations unquantized (a_bits 16)");
    DFROT_THROW_IF(cal.learn_act_clip && (opt_.clip_grid.empty() || opt_.clip_windows == 0), UsageError,
                   "sequential gptq: learned clipping needs a clip grid and at least one window");
    for (float r : opt_.clip_grid)
      DFROT_THROW_IF(!(r > 0.0f && r <= 1.0f), UsageError, "sequential gptq: clip grid value ", r,
                     " is outside (0, 1]");
    if (opt_.codes != nullptr) opt_.codes->layers.resize(c.n_layers);
    report_.n_windows = calib.windows.size();
    report_.n_tokens = calib.n_tokens();
    if (cal.quantized_inputs) {
      OnlineTransformOptions o = online;
      o.n_threads = opt_.n_threads;
      quantized_path_.emplace(c, opt_.scheme, o);
    }
    if (cal.fp_target) fp_xs_.emplace(window_rows(calib), c.hidden, scratch_dir);
    for (std::size_t i = 0; i < calib.windows.size(); ++i) {
      model::RowMatrixF x = m.embed(calib.windows[i]);
      if (fp_xs_) fp_xs_->store(i, x);
      xs_.store(i, std::move(x));
    }
    gcfg_ = opt_.gptq;
    gcfg_.n_threads = opt_.n_threads;
    gcfg_.act_order = gcfg_.act_order || cal.act_order;
  }

  CalibrationActivations const& activations() const noexcept { return xs_; }
  /// The layer quantize_layer expects next; activations() are its inputs.
  std::size_t next_layer() const noexcept { return next_layer_; }

  /// Continues at layer l of an interrupted run: `restore(xs)` refills the activations with layer
  /// l's inputs (a CalibrationCheckpoint). \throws UsageError for l beyond the last layer, or for a
  /// run that also carries FP activations or learned clip ratios (not in a checkpoint).
  template <class Restore>
  void resume_at(std::size_t l, Restore&& restore) {
    DFROT_THROW_IF(l >= m_.config().n_layers, UsageError, "sequential gptq: resume at layer ", l, " of ",
                   m_.config().n_layers);
    DFROT_THROW_IF(fp_xs_ || opt_.calibration.learn_act_clip, UsageError,
                   "sequential gptq: a run with an FP target or learned clipping cannot resume from a checkpoint");
    std::forward<Restore>(restore)(xs_);
    next_layer_ = l;
  }

  /// GPTQ of layer l (layers in order, from 0), in place in m.weights().layers[l].
  /// \throws UsageError out of order, NumericError from GPTQ or on NaN/Inf calibration inputs.
  void quantize_layer(std::size_t l) {
    DFROT_THROW_IF(l != next_layer_, UsageError, "sequential gptq: layer ", l, " after layer ", next_layer_);
    model::ModelConfig const& c = m_.config();
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
    GptqCalibration const& cal = opt_.calibration;
    // The FP path runs layer l as it was before any of its groups was quantized.
    model::LayerWeights fp_layer;
    if (fp_xs_) fp_layer = m_.weights().layers[l];
    for (Group const& g : groups) {
      if (opt_.progress) opt_.progress({l, c.n_layers, g.group, seconds_since(start_)});
      std::string const site_name = str_cat("layers.", l, ".", to_string(g.group));
      QuantSite const qsite = quant_site(g.site);
      std::vector<model::RowMatrix const*> weights;
      for (Linear const& lin : g.linears) weights.push_back(&(m_.weights().layers[l].*lin.weight));
      if (cal.learn_act_clip && quantized_path_->quantizes(qsite)) learn_clip(l, g.site, weights, fp_layer);
      auto const t0 = Clock::now();
      quant::HessianAccumulator acc(g.width, opt_.n_threads, opt_.products);
      bool const ls_target = fp_xs_.has_value() || cal.input_target;
      Eigen::MatrixXd cross;
      if (ls_target) cross = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(g.width), static_cast<Eigen::Index>(g.width));
      for (std::size_t i = 0; i < xs_.size(); ++i) {
        model::RowMatrixF xq = capture(l, g.site, xs_.load(i));
        model::RowMatrixF x_in;  // input_target: the input before its quantizer
        if (cal.input_target && !fp_xs_) x_in = xq;
        if (quantized_path_ && quantized_path_->quantizes(qsite))
          quant::fake_quantize_activations(detail::view_of(xq), detail::view_of(xq),
                                           quantized_path_->activation_config(l, qsite), opt_.n_threads);
        acc.add(detail::const_view_of(xq), 1, site_name);
        if (fp_xs_) {
          model::RowMatrixF const xf = capture_fp(l, g.site, fp_xs_->load(i), fp_layer);
          DFROT_THROW_IF(!xf.allFinite(), NumericError, "gptq fp target '", site_name,
                         "': FP-model calibration input contains NaN or Inf");
          detail::accumulate_cross(cross, xf, xq);
        } else if (ls_target) {
          detail::accumulate_cross(cross, x_in, xq);
        }
      }
      std::size_t const n_seq = acc.n_sequences();
      Eigen::MatrixXd const h = std::move(acc).take_hessian();
      if (ls_target && n_seq > 0) cross *= 2.0 / static_cast<double>(n_seq);
      report_.hessian_seconds += seconds_since(t0);
      auto const t1 = Clock::now();
      for (Linear const& lin : g.linears) {
        model::RowMatrix& w = m_.weights().layers[l].*lin.weight;
        std::string const name = str_cat("layers.", l, ".", lin.name);
        // A least-squares target keeps the per-row grid of the original W: W* may reach further
        // than W in a few entries, and scales fitted to them would coarsen the whole row.
        model::RowMatrix original;
        double growth = 1;
        if (ls_target) {
          original = w;
          w = fp_target_weights(w, cross, h, gcfg_.percdamp, name);
          float const before = original.cwiseAbs().maxCoeff();
          growth = before > 0 ? double(w.cwiseAbs().maxCoeff()) / double(before) : 1.0;
        }
        MatrixView<float const> const wv(w.data(), static_cast<std::size_t>(w.rows()),
                                         static_cast<std::size_t>(w.cols()));
        MatrixView<float const> const scales_from =
            ls_target && gcfg_.quant.granularity == quant::Granularity::kPerRow
                ? MatrixView<float const>(original.data(), static_cast<std::size_t>(original.rows()),
                                          static_cast<std::size_t>(original.cols()))
                : MatrixView<float const>();
        quant::GptqResult r = quant::gptq_quantize(wv, h, gcfg_, name, scales_from);
        std::copy(r.weights.begin(), r.weights.end(), w.data());
        if (opt_.codes != nullptr) opt_.codes->at(l, lin.id) = std::move(r.quantized);
        report_.linears.push_back({name, r.info.loss, r.info.n_dead_columns,
                                   r.info.status == quant::SolveStatus::kDampingIncreased, growth});
      }
      report_.solve_seconds += seconds_since(t1);
    }
    if (cal.learn_act_clip) {
      std::array<float, kQuantSites> row{};
      for (std::size_t s = 0; s < kQuantSites; ++s) row[s] = quantized_path_->clip(l, static_cast<QuantSite>(s));
      report_.clip.push_back(row);
    }
    // The finished layer's outputs are the next layer's calibration inputs (FP path: its own copy).
    auto const t2 = Clock::now();
    model::ForwardOptions const fwd{.n_threads = opt_.n_threads};
    for (std::size_t i = 0; i < xs_.size(); ++i) {
      model::RowMatrixF x = xs_.load(i);
      cache_.clear();
      m_.forward_layer(l, x, cache_, &path(), fwd);
      xs_.store(i, std::move(x));
      if (fp_xs_) {
        detail::LayerSwap const swap(m_.weights(), l, fp_layer);
        model::RowMatrixF xf = fp_xs_->load(i);
        cache_.clear();
        m_.forward_layer(l, xf, cache_, &transforms_, fwd);
        fp_xs_->store(i, std::move(xf));
      }
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

  /// The hooks of the calibration path: the run-time quantizers, or the online transforms only.
  model::ForwardHooks& path() {
    if (quantized_path_) return *quantized_path_;
    return transforms_;
  }
  /// Layer l's input at `site` on the calibration path, online transform applied, not quantized.
  model::RowMatrixF capture(std::size_t l, model::LinearInput site, model::RowMatrixF x) {
    detail::SiteCapture cap(path(), transforms_, l, site);
    cache_.clear();
    m_.forward_layer(l, x, cache_, &cap, {.n_threads = opt_.n_threads});
    return std::move(cap).take();
  }
  /// The same input on the FP path (layer l's unquantized weights, no quantizers).
  model::RowMatrixF capture_fp(std::size_t l, model::LinearInput site, model::RowMatrixF x,
                               model::LayerWeights& fp_layer) {
    detail::LayerSwap const swap(m_.weights(), l, fp_layer);
    detail::SiteCapture cap(transforms_, transforms_, l, site);
    cache_.clear();
    m_.forward_layer(l, x, cache_, &cap, {.n_threads = opt_.n_threads});
    return std::move(cap).take();
  }

  /// Learned clipping of one linear-input site: for each ratio of the grid, the group's output
  /// error Σ ||X·Wᵀ − Q_c(X̃)·Wᵀ||² over the first clip_windows windows (X the FP path's input with
  /// an FP target, else the quantized path's own unquantized input; W the group's FP weights); the
  /// smallest error wins and the quantized path uses it from now on.
  void learn_clip(std::size_t l, model::LinearInput site, std::vector<model::RowMatrix const*> const& weights,
                  model::LayerWeights& fp_layer) {
    auto const t0 = Clock::now();
    QuantSite const qsite = quant_site(site);
    std::string const name = skew_site_name(l, qsite);
    std::vector<double> err(opt_.clip_grid.size(), 0.0);
    quant::QuantConfig cfg = quantized_path_->activation_config(l, qsite);
    float const scheme_ratio = cfg.clip_ratio;
    double scheme_err = 0;
    bool const scheme_in_grid =
        std::find(opt_.clip_grid.begin(), opt_.clip_grid.end(), scheme_ratio) != opt_.clip_grid.end();
    std::size_t const n = std::min(opt_.clip_windows, xs_.size());
    for (std::size_t i = 0; i < n; ++i) {
      model::RowMatrixF const x = capture(l, site, xs_.load(i));
      model::RowMatrixF const ref = fp_xs_ ? capture_fp(l, site, fp_xs_->load(i), fp_layer) : x;
      std::vector<model::RowMatrixF> y_ref;
      for (model::RowMatrix const* w : weights) y_ref.emplace_back(ref * w->transpose());
      model::RowMatrixF xq(x.rows(), x.cols());
      auto error_at = [&](float ratio) {
        cfg.clip_ratio = ratio;
        quant::fake_quantize_activations(detail::const_view_of(x), detail::view_of(xq), cfg, opt_.n_threads);
        double e = 0;
        for (std::size_t k = 0; k < weights.size(); ++k)
          e += static_cast<double>((y_ref[k] - xq * weights[k]->transpose()).squaredNorm());
        DFROT_THROW_IF(!std::isfinite(e), NumericError, "learned clipping '", name, "': the output error at clip ",
                       ratio, " is not finite (NaN or Inf in the layer's inputs or weights)");
        return e;
      };
      for (std::size_t k = 0; k < opt_.clip_grid.size(); ++k) err[k] += error_at(opt_.clip_grid[k]);
      if (!scheme_in_grid) scheme_err += error_at(scheme_ratio);
    }
    std::size_t best = 0;
    for (std::size_t k = 1; k < err.size(); ++k)
      if (err[k] < err[best]) best = k;
    if (scheme_in_grid) {
      auto const at = std::find(opt_.clip_grid.begin(), opt_.clip_grid.end(), scheme_ratio);
      scheme_err = err[static_cast<std::size_t>(at - opt_.clip_grid.begin())];
    }
    quantized_path_->set_clip(l, qsite, opt_.clip_grid[best]);
    report_.clip_search.push_back({name, scheme_ratio, opt_.clip_grid[best], scheme_err, err[best]});
    report_.clip_seconds += seconds_since(t0);
  }

  model::LlamaModel& m_;
  SequentialGptqOptions opt_;
  Clock::time_point start_;
  OnlineTransforms transforms_;
  model::KvCache cache_;
  CalibrationActivations xs_;
  std::optional<CalibrationActivations> fp_xs_;   ///< fp_target: the FP model's layer inputs
  std::optional<QuantizationHooks> quantized_path_;  ///< quantized_inputs: the run-time quantizers
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
