// SPDX-License-Identifier: Apache-2.0
// prepare_quantized_model: QuaRot end to end on a loaded model — fuse norms, rotate (R1, V/O,
// down_proj), quantize the weights (RTN), and build the hooks that apply the online Hadamards and
// the activation / KV fake quantizers at the sites of ALGORITHMS.md §3.6.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <vector>

#include "dfrot/io/npy.hpp"
#include "dfrot/model/forward_hooks.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "dfrot/pipeline/fuse_norms.hpp"
#include "dfrot/pipeline/gptq_model.hpp"
#include "dfrot/pipeline/massive_token_keeping.hpp"
#include "dfrot/pipeline/online_transforms.hpp"
#include "dfrot/pipeline/quantization_hooks.hpp"
#include "dfrot/pipeline/quant_scheme.hpp"
#include "dfrot/pipeline/rotate_model.hpp"
#include "dfrot/pipeline/skew_plan.hpp"
#include "dfrot/quant/activation_quant.hpp"
#include "dfrot/quant/kv_quant.hpp"
#include "dfrot/quant/rtn.hpp"
#include "dfrot/rotation/random_hadamard.hpp"
#include "dfrot/rotation/random_orthogonal.hpp"

namespace dfrot::pipeline {

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

/// What transform_weights does to every part of a model, decided (and checked) once, before any
/// weight is touched: the residual rotation R1, the per-layer V/O rotations, the online
/// transforms. Applying it part by part (transform_dense_weights, transform_layer_weights) gives
/// the same bits as transforming the whole model, so a model can be transformed one layer at a time.
struct WeightTransformPlan {
  bool rotate = false;                  ///< false: --rotate none, the weights stay as they are
  bool subtract_embedding_mean = false;
  Eigen::MatrixXd r1;                   ///< d×d (empty when r1_hadamard holds it)
  /// QuaRot's randomized Hadamard R1 in factored form, applied by the float64 butterfly.
  std::optional<rotation::SignedHadamard> r1_hadamard;
  std::vector<Eigen::MatrixXd> r2;      ///< per layer (SpinQuant's R2 from a file), or empty:
  Eigen::MatrixXd head_rotation;        ///< … H_{d_h}/√d_h in every layer
  std::optional<hadamard::HadamardTransform> t_d, t_ff;  ///< offline halves of the online T_d, T_ff
  OnlineTransformOptions online;        ///< the run-time transforms the rotated weights expect
};

/// \throws ShapeError, NumericError, IoError, FormatError for a bad rotation or R2 file.
inline WeightTransformPlan plan_weight_transform(model::ModelConfig const& c, QuantScheme const& s,
                                                 int n_threads) {
  WeightTransformPlan p;
  p.online = {.down_proj = false, .o_proj = false, .qk = false, .n_threads = n_threads};
  if (s.rotation == RotationKind::kNone) return p;
  p.rotate = true;
  p.subtract_embedding_mean = s.subtract_embedding_mean;
  if (s.rotation == RotationKind::kHadamard) p.r1_hadamard = rotation::RandomHadamardRotation(s.seed).factored(c.hidden);
  else p.r1 = make_residual_rotation(s, c.hidden);
  // V/O: per-head H_{d_h} fused on V (the cache holds v·H) and on the matching o_proj columns. QuaRot
  // style adds a full online T_d before o_proj so its input is Hadamard-rotated across heads too; this
  // works for any head count (QuaRot's cross-head Ĥ_{n_h} needs n_h = K·2^m; SmolLM2 has n_h = 9).
  // DFRot/SpinQuant style stops at the per-head rotation (no online op).
  if (s.r2_file.empty()) {
    p.head_rotation = head_hadamard(c.head_dim);
  } else {
    p.r2 = io::read_npy_stack(s.r2_file, c.n_layers, c.head_dim);
    for (std::size_t l = 0; l < p.r2.size(); ++l) {
      double const err = rotation::orthogonality_error(p.r2[l]);
      DFROT_THROW_IF(!(err <= 1e-6), NumericError, "R2 set '", s.r2_file, "': layer ", l,
                     " is not orthogonal (max |RᵀR − I| = ", err, ")");
    }
  }
  p.online.o_proj = s.vo_rotation == VoRotation::kQuaRot;
  p.online.down_proj = true;
  if (p.online.o_proj) p.t_d.emplace(c.hidden);  // (throws for a size without a Hadamard)
  p.t_ff.emplace(c.intermediate);
  p.online.qk = s.k_bits < 16;  // R3 only matters for K-cache quantization
  return p;
}

/// The dense part of a planned transform: final norm fused into the (untied) lm_head, embedding
/// mean (optional), R1 on embeddings and lm_head. `w` may hold no layers.
inline void transform_dense_weights(model::LlamaWeights& w, WeightTransformPlan const& p) {
  if (!p.rotate) return;
  fuse_final_rms_norm(w);
  if (p.subtract_embedding_mean) subtract_embedding_mean(w);
  if (p.r1_hadamard) rotate_dense_residual(w, *p.r1_hadamard, p.online.n_threads);
  else rotate_dense_residual(w, p.r1);
}

/// Layer `l`'s part of a planned transform: norms fused, R1 on both sides, V/O rotation, the
/// offline halves of the online Hadamards (o_proj in QuaRot style, down_proj always).
inline void transform_layer_weights(model::LayerWeights& layer, model::ModelConfig const& c,
                                    WeightTransformPlan const& p, std::size_t l) {
  if (!p.rotate) return;
  fuse_layer_rms_norms(layer);
  if (p.r1_hadamard) rotate_layer_residual(layer, *p.r1_hadamard, p.online.n_threads);
  else rotate_layer_residual(layer, p.r1);
  rotate_layer_values_per_head(layer, c, p.r2.empty() ? p.head_rotation : p.r2.at(l));
  if (p.t_d) fuse_input_transform(layer.wo, *p.t_d);
  fuse_input_transform(layer.w_down, *p.t_ff);
}

/// Rewrites `w` for the scheme (fusion and rotations only when a rotation is asked for) and returns
/// the online options its hooks need.
inline OnlineTransformOptions transform_weights(model::LlamaWeights& w, QuantScheme const& s,
                                                int n_threads) {
  WeightTransformPlan const p = plan_weight_transform(w.config, s, n_threads);
  transform_dense_weights(w, p);
  for (std::size_t l = 0; l < w.layers.size(); ++l) transform_layer_weights(w.layers[l], w.config, p, l);
  return p.online;
}

/// Weight RTN of one decoder layer's linears. With `codes`, also keeps each linear's codes and
/// scales (the fake weights are then their exact dequantization).
inline void quantize_layer_rtn(model::LayerWeights& layer, QuantScheme const& s, int n_threads,
                               std::array<quant::QuantizedTensor, kLinearIds>* codes = nullptr) {
  if (s.w_bits >= 16) return;
  quant::QuantConfig cfg = s.weight;
  cfg.bits = s.w_bits;
  for (std::size_t i = 0; i < kLinearIds; ++i) {
    model::RowMatrix& m = weight_of(layer, static_cast<LinearId>(i));
    MatrixView<float> v(m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols()));
    if (codes == nullptr) {
      quant::fake_quantize_weights(v, v, cfg, s.w_clip, n_threads);
      continue;
    }
    quant::QuantizedTensor q = quant::quantize_weights(v, cfg, s.w_clip, n_threads);
    quant::dequantize(q, v);
    (*codes)[i] = std::move(q);
  }
}

/// Weight RTN of every decoder linear (lm_head and embeddings stay FP). With `codes`, also keeps
/// each linear's codes and scales (the fake weights are then their exact dequantization).
inline void quantize_weights_rtn(model::LlamaWeights& w, QuantScheme const& s, int n_threads,
                                 QuantizedLinears* codes = nullptr) {
  if (s.w_bits >= 16) return;
  if (codes != nullptr) codes->layers.resize(w.layers.size());
  for (std::size_t l = 0; l < w.layers.size(); ++l)
    quantize_layer_rtn(w.layers[l], s, n_threads, codes ? &codes->layers[l] : nullptr);
}

/// GPTQ settings of a scheme (bits, symmetry, groups, clip search, damping).
inline quant::GptqConfig gptq_config(QuantScheme const& s) {
  quant::GptqConfig g;
  g.quant = s.weight;
  g.quant.bits = s.w_bits;
  g.clip = s.w_clip;
  g.percdamp = s.percdamp;
  g.act_order = s.gptq.act_order;
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
  o.scheme = s;
  o.calibration = s.gptq;
  o.n_threads = n_threads;
  o.progress = std::move(progress);
  o.codes = codes;
  return gptq_quantize_model(m, online, *calib, o);
}

}  // namespace dfrot::pipeline
