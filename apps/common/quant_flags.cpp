// SPDX-License-Identifier: Apache-2.0
#include "common/quant_flags.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>
#include <filesystem>

#include "dfrot/model/model_config.hpp"
#include "dfrot/quant/presets.hpp"

namespace dfrot::app {

namespace {
struct Flags {
  std::string rotate = "none";
  std::string preset;
  int w_bits = 16, a_bits = 16, k_bits = 16, v_bits = 16;
  bool w_clip = false, a_asym = false, k_asym = false, v_asym = false, kv_per_token = false;
  float a_clip = 1.0f, k_clip = 1.0f, v_clip = 1.0f;
  std::size_t a_group = 0;
  std::vector<std::string> a_bits_at;
  bool emb_mean = false;
  bool gptq = false, rtn = false;
  std::size_t calib_windows = 128, calib_len = 2048;
  double percdamp = 0.01;
  bool auto_asym = false;
  std::string vo = "quarot";
  std::string r2;
  bool fp32_had = false;
  double tau_mean = 0.1, tau_skew = 0.2;
  bool keep_massive = false;
  double keep_ratio = 10;
  bool act_order = false, gptq_act_quant = false, gptq_fp_target = false, gptq_input_target = false,
       lac = false;
};

/// `--rotate`: a kind, or a path to a float64 .npy rotation (DFRot / `dfrot optimize` output).
void set_rotation(pipeline::QuantScheme& s, std::string const& name) {
  s.rotation_file.clear();
  if (name == "none") s.rotation = pipeline::RotationKind::kNone;
  else if (name == "random" || name == "ro") s.rotation = pipeline::RotationKind::kRandom;
  else if (name == "hadamard" || name == "rh") s.rotation = pipeline::RotationKind::kHadamard;
  else if (name.size() > 4 && name.substr(name.size() - 4) == ".npy") {
    s.rotation = pipeline::RotationKind::kFile;
    s.rotation_file = name;
  } else {
    throw UsageError(str_cat("--rotate ", name,
                             ": expected none, random (ro), hadamard (rh) or a FILE.npy rotation"));
  }
}
/// `--a-bits-at SITE=BITS` items.
void set_site_bits(pipeline::QuantScheme& s, std::vector<std::string> const& items) {
  static constexpr std::array<char const*, 4> kSites = {"qkv", "o", "gate_up", "down"};
  for (std::string const& item : items) {
    std::size_t const eq = item.find('=');
    std::string const site = item.substr(0, eq);
    auto const at = std::find(kSites.begin(), kSites.end(), site);
    int bits = 0;
    bool ok = eq != std::string::npos && at != kSites.end();
    if (ok) {
      try {
        std::size_t used = 0;
        bits = std::stoi(item.substr(eq + 1), &used);
        ok = used == item.size() - eq - 1;
      } catch (std::exception const&) {
        ok = false;
      }
    }
    DFROT_THROW_IF(!ok, UsageError, "--a-bits-at ", item, ": expected SITE=BITS with SITE one of qkv, o, gate_up, down");
    s.a_site_bits[static_cast<std::size_t>(at - kSites.begin())] = bits;
  }
}
}  // namespace

QuantFlags add_quant_flags(CLI::App& sub) {
  auto f = std::make_shared<Flags>();
  auto* g = &sub;
  auto* rot = g->add_option("--rotate", f->rotate,
                            "residual rotation R1: none, random (ro), hadamard (rh), or FILE.npy "
                            "(float64 d×d, e.g. from dfrot optimize or DFRot)")
                  ->capture_default_str();
  auto* pr = g->add_option("--preset", f->preset,
                           "paper settings: quarot-paper, quarot-code, dfrot-readme, spinquant; dfrot's "
                           "best schemes: best-w4a4kv4, best-mixed (rotation + GPTQ + learned "
                           "clipping; W4A4KV4; explicit flags override)");
  auto* wb = g->add_option("--w-bits", f->w_bits, "weight bits (16 = off)")->capture_default_str();
  auto* ab = g->add_option("--a-bits", f->a_bits, "activation bits (16 = off)")->capture_default_str();
  auto* kb = g->add_option("--k-bits", f->k_bits, "K-cache bits (16 = off)")->capture_default_str();
  auto* vb = g->add_option("--v-bits", f->v_bits, "V-cache bits (16 = off)")->capture_default_str();
  auto* wc = g->add_flag("--w-clip", f->w_clip, "weight MSE clip search (grid 100, shrink 0.8, p 2.4)");
  auto* aa = g->add_flag("--a-asym", f->a_asym, "asymmetric activations");
  auto* ka = g->add_flag("--k-asym", f->k_asym, "asymmetric K cache");
  auto* va = g->add_flag("--v-asym", f->v_asym, "asymmetric V cache");
  auto* ac = g->add_option("--a-clip", f->a_clip, "activation clip ratio")->capture_default_str();
  auto* kc = g->add_option("--k-clip", f->k_clip, "K clip ratio")->capture_default_str();
  auto* vc = g->add_option("--v-clip", f->v_clip, "V clip ratio")->capture_default_str();
  auto* abs = g->add_option("--a-bits-at", f->a_bits_at,
                             "SITE=BITS (repeatable): activation bits of one linear input in every layer, "
                             "SITE one of qkv, o, gate_up, down (mixed precision; 16 = weight-only there)");
  auto* ag = g->add_option("--a-group", f->a_group, "activation group size (0 = per token)")
                 ->capture_default_str();
  auto* kt = g->add_flag("--kv-per-token", f->kv_per_token,
                         "one K/V scale per token instead of per (token, head)");
  auto* em = g->add_flag("--emb-mean", f->emb_mean,
                         "subtract embedding row means (QuaRot; inexact for RMSNorm)");
  auto* gp = g->add_flag("--gptq", f->gptq, "GPTQ weights (true-sequential, on --calib windows)");
  auto* rt = g->add_flag("--rtn", f->rtn, "round-to-nearest weights (the default)")->excludes(gp);
  auto* cw = g->add_option("--calib-windows", f->calib_windows, "GPTQ calibration windows (nsamples)")
                 ->capture_default_str()
                 ->check(CLI::PositiveNumber);
  auto* cl = g->add_option("--calib-len", f->calib_len, "tokens per calibration window")
                 ->capture_default_str()
                 ->check(CLI::Range(std::size_t{1}, model::kMaxPositions));
  auto* pd = g->add_option("--percdamp", f->percdamp, "GPTQ damping, fraction of mean diag(H)")
                 ->capture_default_str()
                 ->check(CLI::NonNegativeNumber);

  auto* ao = g->add_flag("--act-order", f->act_order, "GPTQ: quantize columns by descending Hessian diagonal");
  auto* gq = g->add_flag("--gptq-act-quant", f->gptq_act_quant,
                         "GPTQ: calibrate on inputs quantized as at inference (activation and KV "
                         "quantizers on along the calibration path)");
  auto* gf = g->add_flag("--gptq-fp-target", f->gptq_fp_target,
                         "GPTQ: fit each group to the FP model's outputs (least-squares target "
                         "W·XᵀX̃·(X̃ᵀX̃)⁻¹ from FP inputs X carried beside the quantized path)");
  auto* gi = g->add_flag("--gptq-input-target", f->gptq_input_target,
                         "GPTQ: fit each group to the outputs of its own unquantized inputs "
                         "(least-squares target W·XᵀX̃·(X̃ᵀX̃)⁻¹, X before the site's quantizer)")
                 ->excludes(gf);
  auto* la = g->add_flag("--lac", f->lac,
                         "learned activation clipping: per layer and linear input, the clip ratio "
                         "(1.0 … 0.5) with the least output error, learned during GPTQ (needs "
                         "--gptq-act-quant) and stored in the model file");
  auto* vo = g->add_option("--vo-rotation", f->vo,
                           "V/O rotation: quarot (per-head H + online Hadamard before o_proj) or "
                           "per-head (DFRot/SpinQuant: fused on both sides, no online op)")
                 ->check(CLI::IsMember({"quarot", "per-head"}))
                 ->capture_default_str();
  g->add_flag("--fp32-had", f->fp32_had,
                         "online Hadamards in FP32 (always so here: the CPU forward is FP32; "
                         "accepted for parity with QuaRot/DFRot command lines)");
  auto* r2 = g->add_option("--r2", f->r2,
                           "per-layer R2 set (SpinQuant style): float64 .npy [n_layers, d_h, d_h] "
                           "fused on V/o_proj per head instead of H_{d_h}");
  auto* aas = g->add_flag("--auto-asym", f->auto_asym,
                          "per layer and quantizer: asym when |mean|/std > --skew-tau-mean or "
                          "|skew| > --skew-tau-skew on the first calibration window (QuaRot report)");
  auto* tm = g->add_option("--skew-tau-mean", f->tau_mean, "--auto-asym mean threshold")->capture_default_str();
  auto* ts = g->add_option("--skew-tau-skew", f->tau_skew, "--auto-asym skewness threshold")->capture_default_str();
  auto* km = g->add_flag("--keep-massive-tokens", f->keep_massive,
                         "DFRot's QuaRot.FP16() ablation: tokens whose residual norm entering a layer "
                         "is >= --keep-ratio x that layer's median (first calibration window) skip "
                         "activation quantization there (their K/V stay quantized)");
  auto* kr = g->add_option("--keep-ratio", f->keep_ratio, "--keep-massive-tokens norm ratio")
                 ->capture_default_str()
                 ->check(CLI::Range(1.0001, 1e6));

  // The run-time part (online quantizers) applies to any scheme; the offline part (rotation,
  // weights) only to a model that has not been transformed yet.
  auto runtime = [=](pipeline::QuantScheme& s) {
    if (ab->count()) s.a_bits = f->a_bits;
    if (kb->count()) s.k_bits = f->k_bits;
    if (vb->count()) s.v_bits = f->v_bits;
    if (aa->count()) s.act.symmetry = quant::Symmetry::kAsym;
    if (ka->count()) s.k.symmetry = quant::Symmetry::kAsym;
    if (va->count()) s.v.symmetry = quant::Symmetry::kAsym;
    if (ac->count()) s.act.clip_ratio = f->a_clip;
    if (kc->count()) s.k.clip_ratio = f->k_clip;
    if (vc->count()) s.v.clip_ratio = f->v_clip;
    if (ag->count()) {
      s.act.granularity = f->a_group > 0 ? quant::Granularity::kPerGroup : quant::Granularity::kPerRow;
      s.act.group_size = f->a_group;
    }
    if (kt->count()) s.k.per_head = s.v.per_head = false;
    if (abs->count()) set_site_bits(s, f->a_bits_at);
    if (aas->count()) s.auto_asym = true;
    if (tm->count()) s.skew.tau_mean = f->tau_mean;
    if (ts->count()) s.skew.tau_skew = f->tau_skew;
    if (km->count()) s.keep_massive_ratio = f->keep_ratio;
    DFROT_THROW_IF(kr->count() && !km->count(), UsageError, "--keep-ratio needs --keep-massive-tokens");
    for (int bits : {s.w_bits, s.a_bits, s.k_bits, s.v_bits, s.act_bits_at(0), s.act_bits_at(1),
                     s.act_bits_at(2), s.act_bits_at(3)}) {
      DFROT_THROW_IF(bits != 16 && (bits < quant::kMinBits || bits > quant::kMaxBits), UsageError,
                     "bits ", bits, ": expected 2 … 8, or 16 for off");
    }
  };
  QuantFlags out;
  out.scheme = [=](std::uint64_t seed) {
    pipeline::QuantScheme s;
    s.seed = seed;
    set_rotation(s, f->rotate);
    s.subtract_embedding_mean = f->emb_mean;
    if (!f->preset.empty()) {
      quant::QuantPreset const& p = quant::find_preset(f->preset);
      s.w_bits = s.a_bits = s.k_bits = s.v_bits = 4;
      s.weight = p.weights;
      s.w_clip = p.weight_clip;
      s.act = p.activations;
      s.k = p.keys;
      s.v = p.values;
      if (p.has_seed) s.seed = p.seed;
      if (!p.rotation.empty() && !rot->count()) set_rotation(s, std::string(p.rotation));
      if (p.gptq && !rt->count()) {  // (--rtn keeps the preset's quantizers, without GPTQ's calibration)
        s.weight_method = pipeline::WeightMethod::kGptq;
        s.gptq.act_order = p.gptq_act_order;
        s.gptq.quantized_inputs = p.gptq_quantized_inputs;
        s.gptq.learn_act_clip = p.learned_act_clip;
      }
      for (std::size_t i = 0; i < 4; ++i) s.a_site_bits[i] = p.act_site_bits[i];
    }
    if (wb->count()) s.w_bits = f->w_bits;
    if (wc->count()) s.w_clip.enabled = f->w_clip;
    if (f->gptq) s.weight_method = pipeline::WeightMethod::kGptq;
    s.vo_rotation = f->vo == "per-head" ? pipeline::VoRotation::kPerHead : pipeline::VoRotation::kQuaRot;
    s.fp32_had = f->fp32_had;
    s.r2_file = f->r2;
    DFROT_THROW_IF(!s.r2_file.empty() && s.rotation == pipeline::RotationKind::kNone, UsageError,
                   "--r2 needs a residual rotation (--rotate): R2 is fused after norm fusion");
    std::size_t windows = f->calib_windows;
    if (!f->preset.empty() && !cw->count() && quant::find_preset(f->preset).gptq_windows > 0)
      windows = quant::find_preset(f->preset).gptq_windows;
    s.calib = {.n_windows = windows, .window = f->calib_len, .seed = s.seed};
    s.percdamp = f->percdamp;
    if (ao->count()) s.gptq.act_order = true;
    if (gq->count()) s.gptq.quantized_inputs = true;
    if (gf->count()) s.gptq.fp_target = true;
    if (gi->count()) s.gptq.input_target = true;
    if (la->count()) s.gptq.learn_act_clip = true;
    runtime(s);
    bool const gptq = s.w_bits < 16 && s.weight_method == pipeline::WeightMethod::kGptq;
    DFROT_THROW_IF(s.gptq.any() && !gptq, UsageError,
                   "--act-order, --gptq-act-quant, --gptq-fp-target, --gptq-input-target and --lac shape GPTQ's "
                   "calibration: add --gptq");
    DFROT_THROW_IF(s.gptq.learn_act_clip && !s.gptq.quantized_inputs, UsageError,
                   "--lac learns clip ratios on the quantized calibration path: add --gptq-act-quant");
    DFROT_THROW_IF(s.gptq.learn_act_clip && s.a_bits >= 16, UsageError,
                   "--lac: activations are not quantized (--a-bits 16)");
    DFROT_THROW_IF((s.gptq.quantized_inputs || s.gptq.learn_act_clip) && s.auto_asym, UsageError,
                   "--auto-asym picks symmetries after GPTQ, so --gptq-act-quant / --lac would calibrate "
                   "other quantizers than the model runs: use one or the other");
    return s;
  };
  out.runtime_overlay = [=](pipeline::QuantScheme s, std::string const& model) {
    for (CLI::Option const* o : {rot, pr, wb, wc, em, gp, rt, cw, cl, pd, vo, r2, ao, gq, gf, gi, la}) {
      DFROT_THROW_IF(o->count() != 0, UsageError, "model '", model,
                     "' was already rotated and quantized by dfrot quantize (", s.describe(),
                     "): ", o->get_name(), " cannot be applied again; only activation / KV flags can");
    }
    runtime(s);
    return s;
  };
  return out;
}

std::string shared_dir() {
  char const* env = std::getenv("DFROT_SHARED_DIR");
  if (env != nullptr && *env != 0) return env;
#ifdef DFROT_SHARED_DIR_DEFAULT
  return DFROT_SHARED_DIR_DEFAULT;  // the build's -DDFROT_SHARED_DIR (default: beside the source)
#else
  return "../shared";
#endif
}

std::string default_calibration_text() {
  return (std::filesystem::path(shared_dir()) / "data" / "wikitext-2" / "wiki.valid.tokens").string();
}

}  // namespace dfrot::app
