// SPDX-License-Identifier: Apache-2.0
// Named quantization presets that reproduce each paper's / codebase's settings (ALGORITHMS.md
// §3.7).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "dfrot/core/error.hpp"
#include "dfrot/core/format.hpp"
#include "dfrot/quant/kv_quant.hpp"
#include "dfrot/quant/quant_config.hpp"

namespace dfrot::quant {

/// A complete W/A/KV quantization setting. Weight method (RTN or GPTQ) is chosen separately; the
/// GPTQ calibration fields hold the settings every preset shares (§3.3). KV configs leave
/// n_kv_heads/head_dim at 0 for the model to fill; `kv_group_size` is the group the paper used
/// (128 = head_dim of the LLaMA models) and per_head says whether K/V are grouped per head.
struct QuantPreset {
  std::string_view name;
  std::string_view description;
  QuantConfig weights;               ///< per output channel
  ClipSearchConfig weight_clip;      ///< `--w_clip`
  QuantConfig activations;           ///< dynamic per token
  std::size_t o_proj_act_group = 0;  ///< o_proj input group (0 = as `activations`)
  KvQuantConfig keys;
  KvQuantConfig values;
  std::size_t kv_group_size = 0;  ///< 0 = whole token
  bool fp32_had = false;          ///< online Hadamard in float32
  bool has_seed = false;
  std::uint64_t seed = 0;
  std::size_t calib_samples = 128;  ///< GPTQ calibration: 128 × 2048 WikiText-2 train tokens
  std::size_t calib_seq_len = 2048;
  double percdamp = 0.01;
  std::size_t gptq_block = 128;
  /// Whole-pipeline presets (best-*) also choose the rotation, GPTQ and its calibration, used
  /// unless the command line says otherwise (--rotate, --rtn, --calib-windows).
  std::string_view rotation;          ///< "" = leave --rotate as given
  bool gptq = false;
  std::size_t gptq_windows = 0;       ///< calibration windows (0 = leave --calib-windows)
  bool gptq_act_order = false;
  bool gptq_quantized_inputs = false;
  bool learned_act_clip = false;
  std::array<int, 4> act_site_bits{};  ///< qkv, o, gate_up, down (0 = 4 bits)
};

namespace detail {
inline QuantConfig per_row(int bits, Symmetry s, float clip) {
  QuantConfig q;
  q.bits = bits;
  q.symmetry = s;
  q.granularity = Granularity::kPerRow;
  q.clip_ratio = clip;
  return q;
}
inline KvQuantConfig kv(Symmetry s, float clip, bool per_head) {
  KvQuantConfig k;
  k.bits = 4;
  k.symmetry = s;
  k.clip_ratio = clip;
  k.per_head = per_head;
  return k;
}
inline std::array<QuantPreset, 6> make_presets() {
  ClipSearchConfig w_clip;
  w_clip.enabled = true;
  QuantPreset paper;
  paper.name = "quarot-paper";
  paper.description =
      "QuaRot paper W4A4KV4: weights sym per-channel with clip search, activations sym per-token "
      "clip 0.9, K/V asym per head (128) clip 0.95";
  paper.weights = per_row(4, Symmetry::kSym, 1.0f);
  paper.weight_clip = w_clip;
  paper.activations = per_row(4, Symmetry::kSym, 0.9f);
  paper.keys = kv(Symmetry::kAsym, 0.95f, true);
  paper.values = kv(Symmetry::kAsym, 0.95f, true);
  paper.kv_group_size = 128;

  QuantPreset code;
  code.name = "quarot-code";
  code.description =
      "QuaRot code defaults with --w_bits 4 --a_bits 4 --k_bits 4 --v_bits 4 only: no clip "
      "search, sym activations and K/V per token, no clipping (gives ~6.35 instead of 6.10 on "
      "LLaMA-2-7B)";
  code.weights = per_row(4, Symmetry::kSym, 1.0f);
  code.activations = per_row(4, Symmetry::kSym, 1.0f);
  code.keys = kv(Symmetry::kSym, 1.0f, false);
  code.values = kv(Symmetry::kSym, 1.0f, false);

  QuantPreset dfrot;
  dfrot.name = "dfrot-readme";
  dfrot.description =
      "DFRot README: --w_clip --a_asym --k_asym --v_asym --k_groupsize 128 --v_groupsize 128 "
      "--fp32_had --seed 0";
  dfrot.weights = per_row(4, Symmetry::kSym, 1.0f);
  dfrot.weight_clip = w_clip;
  dfrot.activations = per_row(4, Symmetry::kAsym, 1.0f);
  dfrot.keys = kv(Symmetry::kAsym, 1.0f, true);
  dfrot.values = kv(Symmetry::kAsym, 1.0f, true);
  dfrot.kv_group_size = 128;
  dfrot.fp32_had = true;
  dfrot.has_seed = true;
  dfrot.seed = 0;

  QuantPreset spin;
  spin.name = "spinquant";
  spin.description =
      "SpinQuant scripts: --w_clip --a_asym --k_asym --v_asym --k_groupsize 128 --v_groupsize 128, "
      "no activation clipping, o_proj activations in groups of 128";
  spin.weights = per_row(4, Symmetry::kSym, 1.0f);
  spin.weight_clip = w_clip;
  spin.activations = per_row(4, Symmetry::kAsym, 1.0f);
  spin.o_proj_act_group = 128;
  spin.keys = kv(Symmetry::kAsym, 1.0f, true);
  spin.values = kv(Symmetry::kAsym, 1.0f, true);
  spin.kv_group_size = 128;
  // dfrot's best measured schemes on SmolLM2-135M (docs/RESULTS.md, "Accuracy beyond the anchors"):
  // the QuaRot paper's quantizers, randomized Hadamard R1, GPTQ calibrated on inputs quantized as
  // at inference with a clip ratio learned per layer and site.
  QuantPreset best = paper;
  best.name = "best-w4a4kv4";
  best.description =
      "dfrot's best uniform W4A4KV4: quarot-paper quantizers, randomized Hadamard R1, GPTQ on 8 "
      "windows with quantized calibration inputs and learned activation clipping (--lac)";
  best.rotation = "hadamard";
  best.gptq = true;
  best.gptq_windows = 8;
  best.gptq_quantized_inputs = true;
  best.learned_act_clip = true;
  QuantPreset mixed = best;
  mixed.name = "best-mixed";
  mixed.description =
      "best-w4a4kv4 with the gate/up input (the MLP's, the most sensitive site) at 8 bits: "
      "mixed precision, 4-bit weights and KV, 4.7 activation bits on average";
  mixed.act_site_bits = {0, 0, 8, 0};
  return {paper, code, dfrot, spin, best, mixed};
}
}  // namespace detail

/// Every preset, in a fixed order.
inline std::span<QuantPreset const> presets() {
  static std::array<QuantPreset, 6> const all = detail::make_presets();
  return all;
}

/// The preset called `name`. \throws UsageError listing the valid names.
inline QuantPreset const& find_preset(std::string_view name) {
  std::string valid;
  for (QuantPreset const& p : presets()) {
    if (p.name == name) return p;
    valid += valid.empty() ? "" : ", ";
    valid += p.name;
  }
  throw UsageError(str_cat("quant preset '", name, "': expected one of ", valid));
}

}  // namespace dfrot::quant
