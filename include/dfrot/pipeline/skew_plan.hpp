// SPDX-License-Identifier: Apache-2.0
// QuantizerPlan: the per-layer choice between symmetric and asymmetric quantizers from the skewness of
// what each quantizer sees (QuaRot report §6.2, `--auto-asym`), measured on the rotated model with
// its weights already quantized, online Hadamards active and activation quantizers off — and, unlike
// the reference, on the quantizer's input tensor itself (not the layer output) and for the K cache
// too (the reference looked up a key that never exists, so K stayed symmetric).
#pragma once

#include <array>
#include <span>
#include <string>
#include <vector>

#include "dfrot/model/llama_model.hpp"
#include "dfrot/pipeline/online_transforms.hpp"
#include "dfrot/pipeline/quantizer_plan.hpp"
#include "dfrot/quant/skew_select.hpp"

namespace dfrot::pipeline {

namespace detail {
/// Applies the online transforms, then records every quantizer input.
class SkewObserver final : public model::ForwardHooks {
 public:
  SkewObserver(OnlineTransforms& online, quant::SkewSelector& sel) : online_(online), sel_(sel) {}
  void linear_input(std::size_t l, model::LinearInput s, MatrixView<float> x) override {
    online_.linear_input(l, s, x);
    if (s != model::LinearInput::kLmHead) sel_.observe(skew_site_name(l, quant_site(s)), x);
  }
  void query(std::size_t l, MatrixView<float> q) override { online_.query(l, q); }
  void key(std::size_t l, MatrixView<float> k) override {
    online_.key(l, k);
    sel_.observe(skew_site_name(l, QuantSite::kKey), k);
  }
  void value(std::size_t l, MatrixView<float> v) override {
    online_.value(l, v);
    sel_.observe(skew_site_name(l, QuantSite::kValue), v);
  }

 private:
  OnlineTransforms& online_;
  quant::SkewSelector& sel_;
};
}  // namespace detail

/// Runs `windows` (the report used one 2048-token calibration window) through `m` with the online
/// transforms `online` and decides every quantizer's symmetry with `thresholds`.
/// \throws ShapeError for an empty window list, NumericError on NaN/Inf activations.
inline QuantizerPlan select_quantizer_symmetry(model::LlamaModel const& m,
                                          OnlineTransformOptions const& online,
                                          std::span<std::vector<int> const> windows,
                                          quant::SkewThresholds const& thresholds,
                                          int n_threads = 0) {
  DFROT_THROW_IF(windows.empty(), ShapeError, "skew selection: no calibration windows");
  quant::SkewSelector sel(thresholds);
  OnlineTransforms transforms(m.config(), online);
  detail::SkewObserver obs(transforms, sel);
  for (auto const& w : windows) {
    auto cache = m.make_cache();
    (void)m.forward_hidden(w, cache, &obs, {.n_threads = n_threads});
  }
  QuantizerPlan plan;
  plan.report = sel.report();
  plan.symmetry.resize(m.config().n_layers);
  for (std::size_t l = 0; l < m.config().n_layers; ++l) {
    for (std::size_t s = 0; s < kQuantSites; ++s) {
      plan.symmetry[l][s] = plan.report.symmetry_of(skew_site_name(l, static_cast<QuantSite>(s)));
    }
  }
  return plan;
}

}  // namespace dfrot::pipeline
