// SPDX-License-Identifier: Apache-2.0
// QuantScheme: what to rotate and how to quantize weights, activations and the KV cache
// (the W·A·KV settings of the papers, ALGORITHMS.md §3.6-§3.7).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "dfrot/eval/calibration.hpp"
#include "dfrot/quant/kv_quant.hpp"
#include "dfrot/quant/quant_config.hpp"
#include "dfrot/quant/skew_select.hpp"

namespace dfrot::pipeline {

/// The residual rotation R1.
enum class RotationKind { kNone, kRandom, kHadamard, kFile };

constexpr std::string_view to_string(RotationKind r) {
  switch (r) {
    case RotationKind::kNone: return "none";
    case RotationKind::kRandom: return "random";
    case RotationKind::kHadamard: return "hadamard";
    case RotationKind::kFile: return "file";
  }
  return "unknown";
}

/// How V and the o_proj input are rotated: QuaRot (per-head H on V and O plus a full online
/// Hadamard before o_proj) or DFRot / SpinQuant (per-head H fused on both sides, no online op).
enum class VoRotation { kQuaRot, kPerHead };

constexpr std::string_view to_string(VoRotation v) {
  return v == VoRotation::kQuaRot ? "quarot" : "per-head";
}

/// How the weights are quantized: round to nearest, or GPTQ on calibration windows.
enum class WeightMethod { kRtn, kGptq };

constexpr std::string_view to_string(WeightMethod m) {
  return m == WeightMethod::kGptq ? "gptq" : "rtn";
}

/// Sequential GPTQ's calibration beyond the reference code (which quantizes each group on the
/// inputs of the weight-quantized model with activations in FP32, target W·X̃).
struct GptqCalibration {
  bool act_order = false;         ///< `--act-order`: columns by descending diag(H)
  /// `--gptq-act-quant`: the calibration path runs the activation / KV quantizers as at inference,
  /// so each group's Hessian comes from its quantized inputs X̃ (and the next layers see them).
  bool quantized_inputs = false;
  /// `--gptq-fp-target`: each group fits the FP model's outputs X·Wᵀ (X carried through the FP
  /// layers beside the quantized path): GPTQ quantizes the least-squares W* = W·XᵀX̃·(X̃ᵀX̃ + λI)⁻¹.
  bool fp_target = false;
  /// `--gptq-input-target`: the same least-squares target, with X the quantized path's own input
  /// before its quantizer (corrects each site's activation error, not the drift of earlier layers).
  bool input_target = false;
  /// `--lac`: learned activation clipping — per layer and linear-input site, the clip ratio of
  /// the grid that minimizes the group's output error ||X·Wᵀ − Q_c(X̃)·Wᵀ||² (needs quantized_inputs).
  bool learn_act_clip = false;

  bool any() const noexcept {
    return act_order || quantized_inputs || fp_target || input_target || learn_act_clip;
  }
};

/// KV quantizer defaults of the reference code (§3.5): symmetric, no clipping; per (token, head).
inline quant::KvQuantConfig default_kv_config() {
  quant::KvQuantConfig c;
  c.symmetry = quant::Symmetry::kSym;
  c.clip_ratio = 1.0f;
  c.per_head = true;
  return c;
}

/// Bits = 16 turns a quantizer off. Defaults follow the reference code (sym everywhere, no clip);
/// presets (quant/presets.hpp) give the papers' settings.
struct QuantScheme {
  RotationKind rotation = RotationKind::kNone;
  std::uint64_t seed = 0;
  VoRotation vo_rotation = VoRotation::kQuaRot;
  bool fp32_had = false;      ///< parity flag: the CPU forward runs every online Hadamard in FP32
  /// Per-layer R2 set (SpinQuant style): a float64 .npy of shape [n_layers, d_h, d_h] fused on
  /// V / o_proj per head instead of H_{d_h} (io/npy.hpp read_npy_stack); empty = H_{d_h}.
  std::string r2_file;
  std::string rotation_file;  ///< kFile: a float64 d×d .npy (DFRot / Cayley output, DFRot's files)
  bool subtract_embedding_mean = false;  ///< QuaRot/SpinQuant habit; inexact for RMSNorm (§1.2)

  int w_bits = 16;
  quant::QuantConfig weight{};  ///< per output channel, symmetric by default
  quant::ClipSearchConfig w_clip{};
  WeightMethod weight_method = WeightMethod::kRtn;
  eval::CalibrationOptions calib{};  ///< GPTQ calibration windows (128 × 2048 by default)
  double percdamp = 0.01;            ///< GPTQ damping
  GptqCalibration gptq{};

  int a_bits = 16;
  quant::QuantConfig act{};  ///< per token (kPerRow) by default
  /// `--a-bits-at SITE=BITS`: one linear-input site's activation bits in every layer, in the order
  /// qkv, o_proj, gate/up, down_proj (0 = a_bits) — a mixed-precision scheme; the int4 engine runs
  /// a site at 8 bits on the same W4·A8 integer kernel and a site at 16 bits weight-only.
  std::array<int, 4> a_site_bits{};

  /// The activation bits of linear-input site `site` (0 … 3, the order of a_site_bits).
  int act_bits_at(std::size_t site) const { return a_site_bits.at(site) != 0 ? a_site_bits[site] : a_bits; }
  bool mixed_act_bits() const noexcept {
    for (int b : a_site_bits)
      if (b != 0 && b != a_bits) return true;
    return false;
  }

  int k_bits = 16;
  int v_bits = 16;
  quant::KvQuantConfig k = default_kv_config();
  quant::KvQuantConfig v = default_kv_config();

  /// `--auto-asym`: every activation / KV quantizer picks sym or asym from the skewness of its
  /// input on the first calibration window (skew_plan.hpp); the symmetries above are then ignored.
  bool auto_asym = false;
  quant::SkewThresholds skew{};

  /// `--keep-massive-tokens`: rows whose residual norm entering a layer is ≥ this many times the
  /// layer's calibration median skip activation quantization there (massive_token_keeping.hpp);
  /// 0 = off. A run-time setting, never stored in a model file.
  double keep_massive_ratio = 0;

  /// One line naming every setting (reports carry it so results can be reproduced).
  std::string describe() const {
    auto q = [](quant::QuantConfig const& c) {
      return str_cat(to_string(c.symmetry), c.granularity == quant::Granularity::kPerGroup
                                                ? str_cat(" g", c.group_size)
                                                : std::string(""),
                     c.clip_ratio != 1.0f ? str_cat(" clip ", c.clip_ratio) : std::string(""));
    };
    auto kv = [](quant::KvQuantConfig const& c) {
      return str_cat(to_string(c.symmetry), c.per_head ? " per-head" : " per-token",
                     " clip ", c.clip_ratio);
    };
    return str_cat("W", w_bits, "A", a_bits, "K", k_bits, "V", v_bits, " rotate=",
                   to_string(rotation),
                   rotation == RotationKind::kFile ? str_cat(":", rotation_file) : std::string(""),
                   vo_rotation != VoRotation::kQuaRot
                       ? str_cat(" vo=", to_string(vo_rotation))
                       : std::string(""),
                   r2_file.empty() ? std::string("") : str_cat(" r2=", r2_file),
                   " seed=", seed,
                   w_bits < 16 ? str_cat(" w[", to_string(weight_method), " ", q(weight),
                                         w_clip.enabled ? " mse-clip" : "",
                                         weight_method == WeightMethod::kGptq
                                             ? str_cat(" calib ", calib.n_windows, "x",
                                                       calib.window, " seed ", calib.seed,
                                                       " damp ", percdamp,
                                                       gptq.act_order ? " act-order" : "",
                                                       gptq.quantized_inputs ? " act-quant-inputs" : "",
                                                       gptq.fp_target ? " fp-target" : "",
                                                       gptq.input_target ? " input-target" : "",
                                                       gptq.learn_act_clip ? " lac" : "")
                                             : std::string(""),
                                         "]")
                               : std::string(""),
                   a_bits < 16 ? str_cat(" a[", q(act), "]") : std::string(""),
                   mixed_act_bits() ? str_cat(" a-bits-at[qkv ", act_bits_at(0), " o ", act_bits_at(1), " gate_up ",
                                              act_bits_at(2), " down ", act_bits_at(3), "]")
                                    : std::string(""),
                   k_bits < 16 ? str_cat(" k[", kv(k), "]") : std::string(""),
                   v_bits < 16 ? str_cat(" v[", kv(v), "]") : std::string(""),
                   auto_asym ? str_cat(" auto-asym[tau_mean ", skew.tau_mean, " tau_skew ",
                                       skew.tau_skew, "]")
                             : std::string(""),
                   a_bits < 16 && keep_massive_ratio > 0
                       ? str_cat(" keep-massive[norm >= ", keep_massive_ratio, "x median]")
                       : std::string(""),
                   subtract_embedding_mean ? " emb-mean" : "");
  }
};

}  // namespace dfrot::pipeline
