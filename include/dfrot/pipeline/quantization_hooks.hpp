// SPDX-License-Identifier: Apache-2.0
// QuantizationHooks: the fake-quant forward of a quantized model — online transforms first, then
// the activation and KV quantizers at every site of ALGORITHMS.md §3.6, each layer's quantizers
// following the QuantizerPlan (symmetry, clip ratio) when one is given.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "dfrot/model/forward_hooks.hpp"
#include "dfrot/model/model_config.hpp"
#include "dfrot/pipeline/massive_token_keeping.hpp"
#include "dfrot/pipeline/online_transforms.hpp"
#include "dfrot/pipeline/quant_scheme.hpp"
#include "dfrot/pipeline/quantizer_plan.hpp"
#include "dfrot/quant/activation_quant.hpp"
#include "dfrot/quant/kv_quant.hpp"

namespace dfrot::pipeline {

/// Online transforms first, then fake quantization, at every quantized site. The fake path
/// quantizes exactly as the integer kernels will (same scales, round half to even). With a
/// QuantizerPlan each layer's quantizers take the plan's symmetry and clip ratio instead of the
/// scheme's (an empty table in the plan keeps the scheme's).
class QuantizationHooks : public model::ForwardHooks {
 public:
  /// \throws ShapeError when the plan's tables do not have one row per layer.
  QuantizationHooks(model::ModelConfig const& c, QuantScheme const& s,
                    OnlineTransformOptions const& online, QuantizerPlan const* plan = nullptr)
      : scheme_(s), online_(c, online), n_threads_(online.n_threads) {
    scheme_.act.bits = s.a_bits;
    scheme_.k.bits = s.k_bits;
    scheme_.v.bits = s.v_bits;
    scheme_.k.n_kv_heads = scheme_.v.n_kv_heads = c.n_kv_heads;
    scheme_.k.head_dim = scheme_.v.head_dim = c.head_dim;
    std::array<quant::Symmetry, kQuantSites> sym{};
    std::array<float, kQuantSites> clip{};
    for (std::size_t i = 0; i < 4; ++i) {
      sym[i] = s.act.symmetry;
      clip[i] = s.act.clip_ratio;
    }
    sym[static_cast<std::size_t>(QuantSite::kKey)] = s.k.symmetry;
    sym[static_cast<std::size_t>(QuantSite::kValue)] = s.v.symmetry;
    clip[static_cast<std::size_t>(QuantSite::kKey)] = s.k.clip_ratio;
    clip[static_cast<std::size_t>(QuantSite::kValue)] = s.v.clip_ratio;
    symmetry_.assign(c.n_layers, sym);
    clip_.assign(c.n_layers, clip);
    if (plan != nullptr) {
      DFROT_THROW_IF(plan->has_symmetry() && plan->symmetry.size() != c.n_layers, ShapeError,
                     "quantization hooks: symmetry plan for ", plan->symmetry.size(), " layers, the model has ",
                     c.n_layers);
      DFROT_THROW_IF(plan->has_clip() && plan->clip.size() != c.n_layers, ShapeError,
                     "quantization hooks: clip plan for ", plan->clip.size(), " layers, the model has ",
                     c.n_layers);
      if (plan->has_symmetry()) symmetry_ = plan->symmetry;
      if (plan->has_clip()) clip_ = plan->clip;
    }
  }

  /// The clip ratio of one layer's quantizer from now on (learned clipping sets each layer's
  /// ratios before the layer's later sites are calibrated). \pre 0 < ratio ≤ 1.
  void set_clip(std::size_t layer, QuantSite s, float ratio) {
    DFROT_THROW_IF(!(ratio > 0.0f && ratio <= 1.0f), UsageError, "quantization hooks: clip ratio ", ratio,
                   " for ", skew_site_name(layer, s), " is outside (0, 1]");
    clip_.at(layer)[static_cast<std::size_t>(s)] = ratio;
  }
  float clip(std::size_t layer, QuantSite s) const { return clip_.at(layer)[static_cast<std::size_t>(s)]; }
  /// The activation quantizer of a linear-input site as it runs in `layer`.
  quant::QuantConfig activation_config(std::size_t layer, QuantSite s) const {
    quant::QuantConfig cfg = scheme_.act;
    cfg.bits = scheme_.act_bits_at(static_cast<std::size_t>(s));
    cfg.symmetry = symmetry_.at(layer)[static_cast<std::size_t>(s)];
    cfg.clip_ratio = clip_.at(layer)[static_cast<std::size_t>(s)];
    return cfg;
  }
  /// Whether the linear-input site `s` quantizes its activations (fewer than 16 bits there).
  bool quantizes(QuantSite s) const { return scheme_.act_bits_at(static_cast<std::size_t>(s)) < 16; }

  void linear_input(std::size_t layer, model::LinearInput site, MatrixView<float> x) override {
    online_.linear_input(layer, site, x);
    if (site == model::LinearInput::kLmHead || !quantizes(quant_site(site))) return;
    quant::QuantConfig const cfg = activation_config(layer, quant_site(site));
    for_each_quantized_run(kept_.get(), x.rows(), [&](std::size_t r, std::size_t n) {
      MatrixView<float> const rows(x.row(r), n, x.cols(), x.row_stride());
      quant::fake_quantize_activations(rows, rows, cfg, n_threads_);
    });
  }
  /// Rows marked in `kept` (MassiveTokenKeeper) skip activation quantization; K/V still quantize.
  void set_kept_tokens(std::shared_ptr<KeptTokens const> kept) { kept_ = std::move(kept); }
  void query(std::size_t layer, MatrixView<float> q) override { online_.query(layer, q); }
  void key(std::size_t layer, MatrixView<float> k) override {
    online_.key(layer, k);
    if (scheme_.k_bits < 16) quant::fake_quantize_kv(k, k, kv_config(scheme_.k, layer, QuantSite::kKey), n_threads_);
  }
  void value(std::size_t layer, MatrixView<float> v) override {
    online_.value(layer, v);
    if (scheme_.v_bits < 16) quant::fake_quantize_kv(v, v, kv_config(scheme_.v, layer, QuantSite::kValue), n_threads_);
  }

 private:
  quant::KvQuantConfig kv_config(quant::KvQuantConfig c, std::size_t layer, QuantSite s) const {
    c.symmetry = symmetry_.at(layer)[static_cast<std::size_t>(s)];
    c.clip_ratio = clip_.at(layer)[static_cast<std::size_t>(s)];
    return c;
  }

  QuantScheme scheme_;
  OnlineTransforms online_;
  int n_threads_;
  std::vector<std::array<quant::Symmetry, kQuantSites>> symmetry_;  ///< [layer][site]
  std::vector<std::array<float, kQuantSites>> clip_;                ///< [layer][site]
  std::shared_ptr<KeptTokens const> kept_;
};

}  // namespace dfrot::pipeline
