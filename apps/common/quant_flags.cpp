// SPDX-License-Identifier: Apache-2.0
#include "common/quant_flags.hpp"

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
  bool emb_mean = false;
};

pipeline::RotationKind parse_rotation(std::string const& name) {
  if (name == "none") return pipeline::RotationKind::kNone;
  if (name == "random" || name == "ro") return pipeline::RotationKind::kRandom;
  if (name == "hadamard" || name == "rh") return pipeline::RotationKind::kHadamard;
  throw UsageError(str_cat("--rotate ", name, ": expected none, random (ro) or hadamard (rh)"));
}
}  // namespace

std::function<pipeline::QuantScheme(std::uint64_t)> add_quant_flags(CLI::App& sub) {
  auto f = std::make_shared<Flags>();
  auto* g = &sub;
  g->add_option("--rotate", f->rotate, "residual rotation R1: none, random (ro), hadamard (rh)")
      ->capture_default_str();
  g->add_option("--preset", f->preset,
                "paper settings: quarot-paper, quarot-code, dfrot-readme, spinquant (W4A4KV4; "
                "explicit flags override)");
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
  auto* ag = g->add_option("--a-group", f->a_group, "activation group size (0 = per token)")
                 ->capture_default_str();
  auto* kt = g->add_flag("--kv-per-token", f->kv_per_token,
                         "one K/V scale per token instead of per (token, head)");
  g->add_flag("--emb-mean", f->emb_mean, "subtract embedding row means (QuaRot; inexact for RMSNorm)");
  return [=](std::uint64_t seed) {
    pipeline::QuantScheme s;
    s.seed = seed;
    s.rotation = parse_rotation(f->rotate);
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
    }
    if (wb->count()) s.w_bits = f->w_bits;
    if (ab->count()) s.a_bits = f->a_bits;
    if (kb->count()) s.k_bits = f->k_bits;
    if (vb->count()) s.v_bits = f->v_bits;
    if (wc->count()) s.w_clip.enabled = f->w_clip;
    if (aa->count()) s.act.symmetry = quant::Symmetry::kAsym;
    if (ka->count()) s.k.symmetry = quant::Symmetry::kAsym;
    if (va->count()) s.v.symmetry = quant::Symmetry::kAsym;
    if (ac->count()) s.act.clip_ratio = f->a_clip;
    if (kc->count()) s.k.clip_ratio = f->k_clip;
    if (vc->count()) s.v.clip_ratio = f->v_clip;
    if (ag->count() && f->a_group > 0) {
      s.act.granularity = quant::Granularity::kPerGroup;
      s.act.group_size = f->a_group;
    }
    if (kt->count()) s.k.per_head = s.v.per_head = false;
    for (int bits : {s.w_bits, s.a_bits, s.k_bits, s.v_bits}) {
      DFROT_THROW_IF(bits != 16 && (bits < quant::kMinBits || bits > quant::kMaxBits), UsageError,
                     "bits ", bits, ": expected 2 … 8, or 16 for off");
    }
    return s;
  };
}

}  // namespace dfrot::app
