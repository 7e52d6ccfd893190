// SPDX-License-Identifier: Apache-2.0
// prepare_quantized_model: QuaRot end to end on a loaded model — fuse norms, rotate (R1, V/O,
// down_proj), quantize the weights (RTN), and build the hooks that apply the online Hadamards and
// the activation / KV fake quantizers at the sites of ALGORITHMS.md §3.6.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "dfrot/io/npy.hpp"
#include "dfrot/model/forward_hooks.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "dfrot/pipeline/fuse_norms.hpp"
#include "dfrot/pipeline/gptq_model.hpp"
#include "dfrot/pipeline/massive_token_keeping.hpp"
#include "dfrot/pipeline/online_transforms.hpp"
#include "dfrot/pipeline/quant_scheme.hpp"
#include "dfrot/pipeline/rotate_model.hpp"
#include "dfrot/pipeline/skew_plan.hpp"
#include "dfrot/quant/activation_quant.hpp"
#include "dfrot/quant/kv_quant.hpp"
#include "dfrot/quant/rtn.hpp"
#include "dfrot/rotation/random_hadamard.hpp"
#include "dfrot/rotation/random_orthogonal.hpp"

namespace dfrot::pipeline {

/// Online transforms first, then fake quantization, at every quantized site. The fake path
/// quantizes exactly as the integer kernels will (same scales, round half to even). With a
/// SkewPlan (`--auto-asym`) each layer's quantizers take the plan's symmetry instead of the scheme's.
class QuantizationHooks : public model::ForwardHooks {
 public:
  QuantizationHooks(model::ModelConfig const& c, QuantScheme const& s,
                    OnlineTransformOptions const& online, SkewPlan const* plan = nullptr)
      : scheme_(s), online_(c, online), n_threads_(online.n_threads) {
    scheme_.act.bits = s.a_bits;
    scheme_.k.bits = s.k_bits;
    scheme_.v.bits = s.v_bits;
    scheme_.k.n_kv_heads = scheme_.v.n_kv_heads = c.n_kv_heads;
    scheme_.k.head_dim = scheme_.v.head_dim = c.head_dim;
    if (plan != nullptr) {
      DFROT_THROW_IF(plan->symmetry.size() != c.n_layers, ShapeError, "quantization hooks: skew plan for ",
                     plan->symmetry.size(), " layers, the model has ", c.n_layers);
      plan_ = plan->symmetry;
    }
  }

  void linear_input(std::size_t layer, model::LinearInput site, MatrixView<float> x) override {
    online_.linear_input(layer, site, x);
    if (site == model::LinearInput::kLmHead || scheme_.a_bits >= 16) return;
    quant::QuantConfig cfg = scheme_.act;
    if (!plan_.empty()) cfg.symmetry = plan_[layer][static_cast<std::size_t>(quant_site(site))];
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
    if (!plan_.empty()) c.symmetry = plan_[layer][static_cast<std::size_t>(s)];
    return c;
  }

  QuantScheme scheme_;
  OnlineTransforms online_;
  int n_threads_;
  std::vector<std::array<quant::Symmetry, kQuantSites>> plan_;  ///< empty: the scheme's symmetries
  std::shared_ptr<KeptTokens const> kept_;
};

/// The residual rotation the scheme asks for (float64, d×d); kFile reads a float64 .npy and
/// checks that it is d×d and orthogonal. \throws ShapeError, NumericError, IoError, FormatError.
inline Eigen::MatrixXd make_residual_rotation(QuantScheme const& s, std::size_t d) {
  switch (s.rotation) {
    case RotationKind::kHadamard: return rotation::RandomHadamardRotation(s.seed).generate(d).matrix;
    case RotationKind::kRandom: return rotation::haar_orthogonal(d, s.seed);
    case RotationKind::kFile: {
      Eigen::MatrixXd q = io::read_npy_matrix(s.rotation_file, d, d);
      double const err = rotation::orthogonality_error(q);
      DFROT_THROW_IF(!(err <= 1e-6), NumericError, "rotation '", s.rotation_file,
                     "': not orthogonal (max |QᵀQ − I| = ", err, ")");
      return q;
    }
    case RotationKind::kNone: break;
  }
  return Eigen::MatrixXd::Identity(static_cast<Eigen::Index>(d), static_cast<Eigen::Index>(d));
}

/// Rewrites `w` for the scheme (fusion and rotations only when a rotation is asked for) and returns
/// the online options its hooks need.
inline OnlineTransformOptions transform_weights(model::LlamaWeights& w, QuantScheme const& s,
                                                int n_threads) {
  OnlineTransformOptions online{.down_proj = false, .o_proj = false, .qk = false,
                                .n_threads = n_threads};
  if (s.rotation == RotationKind::kNone) return online;
  fuse_rms_norms(w);
  if (s.subtract_embedding_mean) subtract_embedding_mean(w);
  rotate_residual(w, make_residual_rotation(s, w.config.hidden));
  // V/O: per-head H_{d_h} fused on V (the cache holds v·H) and on the matching o_proj columns. QuaRot
  // style adds a full online T_d before o_proj so its input is Hadamard-rotated across heads too; this
  // works for any head count (QuaRot's cross-head Ĥ_{n_h} needs n_h = K·2^m; SmolLM2 has n_h = 9).
  // DFRot/SpinQuant style stops at the per-head rotation (no online op).
  if (s.r2_file.empty()) {
    rotate_values_per_head(w, head_hadamard(w.config.head_dim));
  } else {
    std::vector<Eigen::MatrixXd> const r2 =
        io::read_npy_stack(s.r2_file, w.config.n_layers, w.config.head_dim);
    for (std::size_t l = 0; l < r2.size(); ++l) {
      double const err = rotation::orthogonality_error(r2[l]);
      DFROT_THROW_IF(!(err <= 1e-6), NumericError, "R2 set '", s.r2_file, "': layer ", l,
                     " is not orthogonal (max |RᵀR − I| = ", err, ")");
    }
    rotate_values_per_head(w, std::span<Eigen::MatrixXd const>(r2));
  }
  bool const online_o = s.vo_rotation == VoRotation::kQuaRot;
  hadamard::HadamardTransform const t_d(w.config.hidden), t_ff(w.config.intermediate);
  for (auto& l : w.layers) {
    if (online_o) fuse_input_transform(l.wo, t_d);
    fuse_input_transform(l.w_down, t_ff);
  }
  online.o_proj = online_o;
  online.down_proj = true;
  online.qk = s.k_bits < 16;  // R3 only matters for K-cache quantization
  return online;
}

/// Weight RTN of every decoder linear (lm_head and embeddings stay FP). With `codes`, also keeps
/// each linear's codes and scales (the fake weights are then their exact dequantization).
inline void quantize_weights_rtn(model::LlamaWeights& w, QuantScheme const& s, int n_threads,
                                 QuantizedLinears* codes = nullptr) {
  if (s.w_bits >= 16) return;
  quant::QuantConfig cfg = s.weight;
  cfg.bits = s.w_bits;
  if (codes != nullptr) codes->layers.resize(w.layers.size());
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    for (std::size_t i = 0; i < kLinearIds; ++i) {
      model::RowMatrix& m = weight_of(w.layers[l], static_cast<LinearId>(i));
      MatrixView<float> v(m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols()));
      if (codes == nullptr) {
        quant::fake_quantize_weights(v, v, cfg, s.w_clip, n_threads);
        continue;
      }
      quant::QuantizedTensor q = quant::quantize_weights(v, cfg, s.w_clip, n_threads);
      quant::dequantize(q, v);
      codes->layers[l][i] = std::move(q);
    }
  }
}

/// GPTQ settings of a scheme (bits, symmetry, groups, clip search, damping).
inline quant::GptqConfig gptq_config(QuantScheme const& s) {
  quant::GptqConfig g;
  g.quant = s.weight;
  g.quant.bits = s.w_bits;
  g.clip = s.w_clip;
  g.percdamp = s.percdamp;
  return g;
}

/// Quantizes the decoder weights of a transformed model by the scheme's method: RTN, or GPTQ in
/// true-sequential order on `calib` (required then) with the online transforms `online` active.
/// Returns the GPTQ report (empty for RTN or w_bits = 16). `codes`, when set, receives every
/// linear's codes and scales (for the int4 engine and the model file).
/// \throws UsageError when GPTQ is asked for without calibration windows.
inline SequentialGptqReport quantize_weights(model::LlamaModel& m, QuantScheme const& s,
                                             OnlineTransformOptions const& online,
                                             eval::CalibrationSet const* calib, int n_threads,
                                             std::function<void(GptqModelProgress const&)> progress = {},
                                             QuantizedLinears* codes = nullptr) {
  if (s.w_bits >= 16) return {};
  if (s.weight_method == WeightMethod::kRtn) {
    quantize_weights_rtn(m.weights(), s, n_threads, codes);
    return {};
  }
  DFROT_THROW_IF(calib == nullptr || calib->windows.empty(), UsageError,
                 "GPTQ needs calibration windows (--calib)");
  SequentialGptqOptions o;
  o.gptq = gptq_config(s);
  o.n_threads = n_threads;
  o.progress = std::move(progress);
  o.codes = codes;
  return gptq_quantize_model(m, online, *calib, o);
}

}  // namespace dfrot::pipeline
