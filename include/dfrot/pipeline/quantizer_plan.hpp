// SPDX-License-Identifier: Apache-2.0
// QuantizerPlan: what calibration decided, per decoder layer and quantizer site, about the run-time
// activation and KV quantizers (symmetry from the skewness rule, clip ratio from learned clipping).
// It is stored in the model file beside the scheme and read by both the fake path and the int4 engine.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/core/format.hpp"
#include "dfrot/model/forward_hooks.hpp"
#include "dfrot/quant/quant_config.hpp"
#include "dfrot/quant/skew_select.hpp"

namespace dfrot::pipeline {

/// The quantizers of one decoder layer, in a fixed order.
enum class QuantSite { kAttention, kAttnOut, kMlp, kDown, kKey, kValue };
inline constexpr std::size_t kQuantSites = 6;

constexpr std::string_view to_string(QuantSite s) {
  switch (s) {
    case QuantSite::kAttention: return "qkv_input";
    case QuantSite::kAttnOut: return "o_proj_input";
    case QuantSite::kMlp: return "gate_up_input";
    case QuantSite::kDown: return "down_proj_input";
    case QuantSite::kKey: return "k_cache";
    case QuantSite::kValue: return "v_cache";
  }
  return "unknown";
}

/// The quantizer site of a decoder linear input. \pre s != kLmHead (the lm_head input is never
/// quantized; callers skip it).
constexpr QuantSite quant_site(model::LinearInput s) {
  switch (s) {
    case model::LinearInput::kAttention: return QuantSite::kAttention;
    case model::LinearInput::kAttnOut: return QuantSite::kAttnOut;
    case model::LinearInput::kMlp: return QuantSite::kMlp;
    case model::LinearInput::kDown: return QuantSite::kDown;
    case model::LinearInput::kLmHead: break;
  }
  throw UsageError("quant_site: the lm_head input has no quantizer");
}

/// Per-layer settings of the run-time quantizers that calibration decided: the symmetry of each
/// site (`--auto-asym`, skew_plan.hpp) and its clip ratio (`--lac`, learned in sequential GPTQ).
/// An empty table means "the scheme's setting at every layer".
struct QuantizerPlan {
  std::vector<std::array<quant::Symmetry, kQuantSites>> symmetry;  ///< [layer][site], or empty
  std::vector<std::array<float, kQuantSites>> clip;                ///< [layer][site], or empty
  quant::SkewReport report;  ///< the statistics behind each symmetry ("layers.3.down_proj_input")

  bool has_symmetry() const noexcept { return !symmetry.empty(); }
  bool has_clip() const noexcept { return !clip.empty(); }

  quant::Symmetry at(std::size_t layer, QuantSite s) const {
    return symmetry.at(layer)[static_cast<std::size_t>(s)];
  }
  float clip_at(std::size_t layer, QuantSite s) const {
    return clip.at(layer)[static_cast<std::size_t>(s)];
  }
  std::size_t count_asym(QuantSite s) const {
    std::size_t n = 0;
    for (auto const& l : symmetry) n += l[static_cast<std::size_t>(s)] == quant::Symmetry::kAsym;
    return n;
  }
};

inline std::string skew_site_name(std::size_t layer, QuantSite s) {
  return str_cat("layers.", layer, ".", to_string(s));
}

}  // namespace dfrot::pipeline
