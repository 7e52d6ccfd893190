// SPDX-License-Identifier: Apache-2.0
// Int4Linears: the real W4A4 / W4A8 / W4A16 engine behind model::LinearLayers — packed int4
// decoder weights, per-token activation codes quantized once per site, integer GEMMs, and F16 (or
// FP32) embeddings and lm_head — plus the KV-cache format and hooks that go with it.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Cholesky>
#include <Eigen/QR>
#include <Eigen/Core>

#include "dfrot/gemm/gemm.hpp"
#include "dfrot/hadamard/hadamard_transform.hpp"
#include "dfrot/model/kv_cache.hpp"
#include "dfrot/model/linear_layers.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "dfrot/pipeline/massive_token_keeping.hpp"
#include "dfrot/pipeline/online_transforms.hpp"
#include "dfrot/pipeline/quant_scheme.hpp"
#include "dfrot/pipeline/quantized_linears.hpp"
#include "dfrot/pipeline/quantizer_plan.hpp"

namespace dfrot::pipeline {

/// Storage of the embeddings and the lm_head in the engine (`--dense`): F16 halves their bytes
/// (they are half of a W4 model's decode traffic, INT4_ENGINE_NOTES.md) at a relative rounding
/// error of 2⁻¹¹ per weight; Q8 (int8 per row, the lm_head input quantized to int8 per token, an
/// integer GEMM) halves them again, as llama.cpp's Q8_0 output does; FP32 keeps the fake path's
/// values exactly.
enum class DenseType { kF16, kQ8, kF32 };

constexpr std::string_view to_string(DenseType t) {
  return t == DenseType::kF16 ? "f16" : t == DenseType::kQ8 ? "q8" : "f32";
}

/// The DenseType named "f16", "q8" or "f32". \throws UsageError for another name.
inline DenseType parse_dense_type(std::string_view name) {
  for (DenseType t : {DenseType::kF16, DenseType::kQ8})
    if (name == to_string(t)) return t;
  DFROT_THROW_IF(name != to_string(DenseType::kF32), UsageError, "dense type '", name,
                 "': expected f16, q8 or f32");
  return DenseType::kF32;
}

/// The activation quantizer of a Q8 lm_head's input: symmetric int8 per token, no clipping.
inline quant::QuantConfig q8_head_input_config() {
  quant::QuantConfig c;
  c.bits = 8;
  c.symmetry = quant::Symmetry::kSym;
  return c;
}

/// An embedding / lm_head matrix [vocab × d] in F16, Q8 or FP32.
class DenseMatrix {
 public:
  DenseMatrix() = default;
  static DenseMatrix make(model::RowMatrix const& m, DenseType type, std::string_view name) {
    MatrixView<float const> const v(m.data(), static_cast<std::size_t>(m.rows()),
                                    static_cast<std::size_t>(m.cols()));
    DenseMatrix d;
    d.type_ = type;
    if (type == DenseType::kF16) {
      d.f16_ = gemm::F16Matrix::from_float(v, name);
    } else if (type == DenseType::kQ8) {
      d.q8_ = gemm::PackedInt8Weights::quantize(v, name);
    } else {
      d.f32_ = m;
    }
    return d;
  }
  static DenseMatrix from_f16(gemm::F16Matrix m) {
    DenseMatrix d;
    d.type_ = DenseType::kF16;
    d.f16_ = std::move(m);
    return d;
  }
  static DenseMatrix from_q8(gemm::PackedInt8Weights m) {
    DenseMatrix d;
    d.type_ = DenseType::kQ8;
    d.q8_ = std::move(m);
    return d;
  }
  static DenseMatrix from_f32(model::RowMatrix m) {
    DenseMatrix d;
    d.type_ = DenseType::kF32;
    d.f32_ = std::move(m);
    return d;
  }

  DenseType type() const { return type_; }
  std::size_t rows() const {
    switch (type_) {
      case DenseType::kF16: return f16_.rows();
      case DenseType::kQ8: return q8_.n_out();
      case DenseType::kF32: break;
    }
    return static_cast<std::size_t>(f32_.rows());
  }
  std::size_t cols() const {
    switch (type_) {
      case DenseType::kF16: return f16_.cols();
      case DenseType::kQ8: return q8_.n_in();
      case DenseType::kF32: break;
    }
    return static_cast<std::size_t>(f32_.cols());
  }
  std::size_t bytes() const {
    switch (type_) {
      case DenseType::kF16: return f16_.bytes();
      case DenseType::kQ8: return q8_.bytes();
      case DenseType::kF32: break;
    }
    return static_cast<std::size_t>(f32_.size()) * 4;
  }
  gemm::F16Matrix const& f16() const { return f16_; }
  gemm::PackedInt8Weights const& q8() const { return q8_; }
  model::RowMatrix const& f32() const { return f32_; }

  /// The (dequantized / widened) row r: the embedding lookup.
  void row(std::size_t r, std::span<float> out) const {
    switch (type_) {
      case DenseType::kF16: f16_.row_to_float(r, out.data()); return;
      case DenseType::kQ8: q8_.row_to_float(r, out.data()); return;
      case DenseType::kF32: break;
    }
    std::copy(f32_.row(static_cast<Eigen::Index>(r)).data(),
              f32_.row(static_cast<Eigen::Index>(r)).data() + f32_.cols(), out.data());
  }
  /// y = x · Mᵀ (Q8: x quantized per token to int8 first, q8_head_input_config).
  void multiply(MatrixView<float const> x, MatrixView<float> y, int n_threads) const {
    if (type_ == DenseType::kF16) {
      gemm::gemm_f16(x, f16_, y, n_threads);
      return;
    }
    if (type_ == DenseType::kQ8) {
      gemm::quantize_activations_for_gemm(x, q8_head_input_config(), codes_, n_threads);
      gemm::gemm_w8a8(codes_, q8_, y, n_threads);
      return;
    }
    using Stride = Eigen::OuterStride<>;
    Eigen::Map<model::RowMatrix const, 0, Stride> const xm(
        x.data(), static_cast<Eigen::Index>(x.rows()), static_cast<Eigen::Index>(x.cols()),
        Stride(static_cast<Eigen::Index>(x.row_stride())));
    Eigen::Map<model::RowMatrix, 0, Stride> ym(y.data(), static_cast<Eigen::Index>(y.rows()),
                                               static_cast<Eigen::Index>(y.cols()),
                                               Stride(static_cast<Eigen::Index>(y.row_stride())));
    ym.noalias() = xm * f32_.transpose();
  }

 private:
  DenseType type_ = DenseType::kF32;
  gemm::F16Matrix f16_;
  gemm::PackedInt8Weights q8_;
  model::RowMatrix f32_;
  mutable gemm::QuantizedActivations codes_;  ///< Q8 input codes; one forward at a time
};

/// The decoder linears of one layer in the panel layout.
using PackedLayer = std::array<gemm::PackedInt4Weights, kLinearIds>;

/// The activation quantizer of each (layer, site) — bits 16 = weight-only (W4A16 kernel).
using ActivationPlan = std::vector<std::array<quant::QuantConfig, 4>>;

class Int4Linears final : public model::LinearLayers {
 public:
  /// `lm_head` may be empty when the model ties it to the embeddings: then logits = E·(M·h) with
  /// the d×d `head_transform` M (see tied_head_transform), and only E is stored.
  Int4Linears(model::ModelConfig const& c, std::vector<PackedLayer> layers, DenseMatrix embeddings,
              DenseMatrix lm_head, ActivationPlan act, model::RowMatrix head_transform = {})
      : layers_(std::move(layers)), embeddings_(std::move(embeddings)),
        lm_head_(std::move(lm_head)), act_(std::move(act)), head_transform_(std::move(head_transform)) {
    DFROT_THROW_IF(layers_.size() != c.n_layers || act_.size() != c.n_layers, ShapeError,
                   "int4 engine: ", layers_.size(), " packed layers and ", act_.size(),
                   " activation plans for a ", c.n_layers, "-layer model");
    bool const head_ok = tied() ? head_transform_.rows() == static_cast<Eigen::Index>(c.hidden) &&
                                      head_transform_.cols() == static_cast<Eigen::Index>(c.hidden)
                                : lm_head_.rows() == c.vocab && lm_head_.cols() == c.hidden;
    DFROT_THROW_IF(embeddings_.rows() != c.vocab || embeddings_.cols() != c.hidden || !head_ok,
                   ShapeError, "int4 engine: embeddings ", embeddings_.rows(), "x",
                   embeddings_.cols(), " / lm_head ", lm_head_.rows(), "x", lm_head_.cols(),
                   " / head transform ", head_transform_.rows(), "x", head_transform_.cols(),
                   ", expected ", c.vocab, "x", c.hidden);
    for (std::size_t l = 0; l < c.n_layers; ++l) {
      for (std::size_t i = 0; i < kLinearIds; ++i) {
        gemm::PackedInt4Weights const& w = layers_[l][i];
        auto const [n_out, n_in] = linear_shape(c, static_cast<LinearId>(i));
        DFROT_THROW_IF(w.n_out() != n_out || w.n_in() != n_in, ShapeError,
                       "int4 engine: blk.", l, ".", gguf_stem(static_cast<LinearId>(i)), " is ",
                       w.n_out(), "x", w.n_in(), ", expected ", n_out, "x", n_in);
      }
    }
  }

  void apply(std::size_t layer, model::LinearInput site, MatrixView<float const> x,
             std::span<MatrixView<float> const> outs, int n_threads) const override {
    if (site == model::LinearInput::kLmHead) {
      if (!tied()) {
        lm_head_.multiply(x, outs[0], n_threads);
        return;
      }
      using Stride = Eigen::OuterStride<>;
      Eigen::Map<model::RowMatrix const, 0, Stride> const xm(
          x.data(), static_cast<Eigen::Index>(x.rows()), static_cast<Eigen::Index>(x.cols()),
          Stride(static_cast<Eigen::Index>(x.row_stride())));
      head_input_.resize(xm.rows(), xm.cols());
      head_input_.noalias() = xm * head_transform_.transpose();
      embeddings_.multiply(MatrixView<float const>(head_input_.data(), x.rows(), x.cols()), outs[0],
                           n_threads);
      return;
    }
    auto const first = first_linear(site);
    quant::QuantConfig const& cfg = act_[layer][static_cast<std::size_t>(site)];
    std::optional<hadamard::HadamardTransform> const& t = site_transform_[static_cast<std::size_t>(site)];
    DFROT_THROW_IF(t && t->size() != x.cols(), ShapeError, "int4 engine: the ", t->size(),
                   "-point online transform of blk.", layer, " gets ", x.cols(), "-wide rows");
    if (cfg.bits >= 16) {
      MatrixView<float const> in = x;
      if (t) in = transformed_copy(*t, x, transformed_, n_threads);
      for (std::size_t i = 0; i < outs.size(); ++i)
        gemm::gemm_w4a16(in, layers_[layer][first + i], outs[i], n_threads);
      return;
    }
    if (t) {
      gemm::quantize_activations_for_gemm(x, cfg, codes_, n_threads, t->row_kernel());
    } else {
      gemm::quantize_activations_for_gemm(x, cfg, codes_, n_threads);
    }
    for (std::size_t i = 0; i < outs.size(); ++i)
      gemm::gemm_w4a4(codes_, layers_[layer][first + i], outs[i], n_threads);
    if (kept_ && kept_->any) apply_kept_rows(layer, first, x, t ? &*t : nullptr, outs, n_threads);
  }

  /// Takes the online Hadamards of the linear inputs (before o_proj and down_proj) over from the
  /// hooks: each is then applied to a block of rows while it is quantized, in one pass (PERF_GOALS
  /// C4), with the same codes as the hook followed by the quantizer. Returns the options the hooks
  /// still apply (R3 on queries and keys); hooks and engine must not both apply a site's transform.
  /// The apps call it (engine_setup): the fused pass reads each row once and quantizes it from L1
  /// (bench/RESULTS.md, BM_hadamard_quantize_for_gemm).
  OnlineTransformOptions fuse_online_transforms(model::ModelConfig const& c,
                                                OnlineTransformOptions o) {
    if (o.o_proj) site_transform_[static_cast<std::size_t>(model::LinearInput::kAttnOut)].emplace(c.hidden);
    if (o.down_proj) site_transform_[static_cast<std::size_t>(model::LinearInput::kDown)].emplace(c.intermediate);
    o.o_proj = o.down_proj = false;
    return o;
  }

  /// Rows marked in `kept` (MassiveTokenKeeper) run weight-only (W4A16) instead of W4A4.
  void set_kept_tokens(std::shared_ptr<KeptTokens const> kept) { kept_ = std::move(kept); }

  void embed(int id, std::span<float> out) const override {
    embeddings_.row(static_cast<std::size_t>(id), out);
  }

  std::vector<PackedLayer> const& layers() const { return layers_; }
  DenseMatrix const& embeddings() const { return embeddings_; }
  DenseMatrix const& lm_head() const { return lm_head_; }
  /// Whether the lm_head is the embeddings behind head_transform().
  bool tied() const { return lm_head_.rows() == 0; }
  model::RowMatrix const& head_transform() const { return head_transform_; }
  ActivationPlan const& activation_plan() const { return act_; }

  /// Bytes of the decoder linears (codes + scales + row sums) and of embeddings + lm_head.
  std::size_t linear_bytes() const {
    std::size_t b = 0;
    for (auto const& l : layers_)
      for (auto const& w : l) b += w.code_bytes() + w.n_out_pad() * 8;
    return b;
  }
  std::size_t dense_bytes() const {
    return embeddings_.bytes() + lm_head_.bytes() + static_cast<std::size_t>(head_transform_.size()) * 4;
  }

 private:
  static std::size_t first_linear(model::LinearInput site) {
    switch (site) {
      case model::LinearInput::kAttention: return static_cast<std::size_t>(LinearId::kQ);
      case model::LinearInput::kAttnOut: return static_cast<std::size_t>(LinearId::kO);
      case model::LinearInput::kMlp: return static_cast<std::size_t>(LinearId::kGate);
      case model::LinearInput::kDown: return static_cast<std::size_t>(LinearId::kDown);
      case model::LinearInput::kLmHead: break;
    }
    return 0;
  }

  // x·Tᵀ row by row into `buffer` (the weight-only path's input when the engine owns T).
  static MatrixView<float const> transformed_copy(hadamard::HadamardTransform const& t,
                                                  MatrixView<float const> x,
                                                  model::RowMatrix& buffer, int n_threads) {
    buffer.resize(static_cast<Eigen::Index>(x.rows()), static_cast<Eigen::Index>(x.cols()));
    for (std::size_t r = 0; r < x.rows(); ++r)
      std::copy(x.row(r), x.row(r) + x.cols(), buffer.row(static_cast<Eigen::Index>(r)).data());
    MatrixView<float> const v(buffer.data(), x.rows(), x.cols());
    t.apply_rows(v, hadamard::Transpose::kNo, n_threads);
    return v;
  }

  // Recomputes the kept rows of every output with the W4A16 kernel (few rows: gathered, then
  // transformed when the engine owns the site's online transform).
  void apply_kept_rows(std::size_t layer, std::size_t first, MatrixView<float const> x,
                       hadamard::HadamardTransform const* t,
                       std::span<MatrixView<float> const> outs, int n_threads) const {
    std::vector<std::size_t> rows;
    for (std::size_t r = 0; r < x.rows(); ++r)
      if (kept_->row(r)) rows.push_back(r);
    model::RowMatrix in(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(x.cols()));
    for (std::size_t i = 0; i < rows.size(); ++i)
      std::copy(x.row(rows[i]), x.row(rows[i]) + x.cols(), in.row(static_cast<Eigen::Index>(i)).data());
    MatrixView<float const> const in_view(in.data(), rows.size(), x.cols());
    if (t) t->apply_rows(MatrixView<float>(in.data(), rows.size(), x.cols()));
    for (std::size_t i = 0; i < outs.size(); ++i) {
      model::RowMatrix out(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(outs[i].cols()));
      gemm::gemm_w4a16(in_view, layers_[layer][first + i],
                       MatrixView<float>(out.data(), rows.size(), outs[i].cols()), n_threads);
      for (std::size_t k = 0; k < rows.size(); ++k)
        std::copy(out.row(static_cast<Eigen::Index>(k)).data(),
                  out.row(static_cast<Eigen::Index>(k)).data() + out.cols(), outs[i].row(rows[k]));
    }
  }

  std::vector<PackedLayer> layers_;
  DenseMatrix embeddings_;
  DenseMatrix lm_head_;
  ActivationPlan act_;
  model::RowMatrix head_transform_;
  mutable gemm::QuantizedActivations codes_;  ///< one forward at a time (LinearLayers contract)
  mutable model::RowMatrix head_input_;
  mutable model::RowMatrix transformed_;  ///< weight-only input after an engine-owned transform
  std::array<std::optional<hadamard::HadamardTransform>, 4> site_transform_;  ///< by LinearInput
  std::shared_ptr<KeptTokens const> kept_;
};

/// The activation quantizer of every (layer, site) for a scheme: `s.act` with bits a_bits
/// (16 = weight-only), the plan's symmetry and clip ratio per site when given.
/// \throws UsageError for per-group activations (the integer GEMM takes one scale per token).
inline ActivationPlan activation_plan(model::ModelConfig const& c, QuantScheme const& s,
                                      QuantizerPlan const* plan) {
  quant::QuantConfig base = s.act;
  base.bits = s.a_bits;
  DFROT_THROW_IF(s.a_bits < 16 && base.granularity != quant::Granularity::kPerRow, UsageError,
                 "int4 engine: activations quantized per ", quant::to_string(base.granularity),
                 " are not supported by the integer kernels (one scale per token); use --fake");
  ActivationPlan out(c.n_layers);
  for (std::size_t l = 0; l < c.n_layers; ++l) {
    for (std::size_t site = 0; site < 4; ++site) {
      out[l][site] = base;
      out[l][site].bits = s.act_bits_at(site);
      if (plan != nullptr && plan->has_symmetry()) out[l][site].symmetry = plan->symmetry.at(l)[site];
      if (plan != nullptr && plan->has_clip()) out[l][site].clip_ratio = plan->clip.at(l)[site];
    }
  }
  return out;
}

/// The KV-cache format of a scheme (per-layer symmetries and clip ratios from the plan when given).
inline model::KvCacheFormat kv_cache_format(model::ModelConfig const& c, QuantScheme const& s,
                                            QuantizerPlan const* plan) {
  model::KvCacheFormat f;
  auto fill = [&](std::vector<quant::KvQuantConfig>& v, quant::KvQuantConfig q, int bits,
                  QuantSite site) {
    if (bits >= 16) return;
    q.bits = bits;
    q.n_kv_heads = c.n_kv_heads;
    q.head_dim = c.head_dim;
    v.assign(c.n_layers, q);
    for (std::size_t l = 0; l < c.n_layers && plan != nullptr; ++l) {
      if (plan->has_symmetry()) v[l].symmetry = plan->symmetry.at(l)[static_cast<std::size_t>(site)];
      if (plan->has_clip()) v[l].clip_ratio = plan->clip.at(l)[static_cast<std::size_t>(site)];
    }
  };
  fill(f.keys, s.k, s.k_bits, QuantSite::kKey);
  fill(f.values, s.v, s.v_bits, QuantSite::kValue);
  return f;
}

/// Why a scheme cannot run on the int4 engine (empty when it can): the engine takes symmetric
/// 4-bit per-channel weights, per-token activations of 2–8 bits or 16, and K/V of ≤ 4 bits or 16.
inline std::string int4_engine_unsupported(QuantScheme const& s) {
  if (s.w_bits != 4) return str_cat("weights are ", s.w_bits, "-bit (the engine packs 4-bit)");
  if (s.weight.symmetry != quant::Symmetry::kSym) return "weights are asymmetric";
  if (s.weight.granularity != quant::Granularity::kPerRow) return "weights have per-group scales";
  bool any_act = s.a_bits < 16;
  for (std::size_t i = 0; i < 4; ++i) any_act = any_act || s.act_bits_at(i) < 16;
  if (any_act && s.act.granularity != quant::Granularity::kPerRow)
    return "activations are quantized per group";
  for (int b : {s.k_bits, s.v_bits})
    if (b < 16 && b > 4) return str_cat(b, "-bit K/V (the cache packs 2-4 bits or stores FP32)");
  return {};
}

/// For a model whose source tied lm_head to the embeddings: the d×d M with lm_head = E·M for the
/// transformed E and lm_head (norm fusion and R1 make them differ: M = R1ᵀ·diag(g)·R1), found by
/// least squares in float64 and accepted only when every row is reproduced to 1e-5 relative.
/// Storing E once instead of E and lm_head saves vocab·d values (57 MB of F16 on SmolLM2).
/// Returns an empty matrix when no such M exists (e.g. --emb-mean, or an untied source).
inline model::RowMatrix tied_head_transform(model::LlamaWeights const& w) {
  if (w.is_tied()) return model::RowMatrix::Identity(static_cast<Eigen::Index>(w.config.hidden),
                                                     static_cast<Eigen::Index>(w.config.hidden));
  // Row blocks keep the float64 copies at kBlock·d (a 128k vocabulary would need 4 GB per matrix).
  constexpr Eigen::Index kBlock = 4096;
  Eigen::Index const vocab = w.tok_embeddings.rows(), d = w.tok_embeddings.cols();
  auto block = [&](model::RowMatrix const& m, Eigen::Index r0) {
    return Eigen::MatrixXd(m.middleRows(r0, std::min(kBlock, vocab - r0)).cast<double>());
  };
  Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(d, d), rhs = Eigen::MatrixXd::Zero(d, d);
  for (Eigen::Index r0 = 0; r0 < vocab; r0 += kBlock) {
    Eigen::MatrixXd const e = block(w.tok_embeddings, r0);
    gram.selfadjointView<Eigen::Lower>().rankUpdate(e.transpose());
    rhs.noalias() += e.transpose() * block(w.output, r0);
  }
  Eigen::LLT<Eigen::MatrixXd> llt(gram.selfadjointView<Eigen::Lower>());
  // Normal equations when E has full column rank (vocab ≫ d); else the minimum-norm solution.
  Eigen::MatrixXd const m =
      llt.info() == Eigen::Success
          ? Eigen::MatrixXd(llt.solve(rhs))
          : Eigen::MatrixXd(w.tok_embeddings.cast<double>().completeOrthogonalDecomposition().solve(
                w.output.cast<double>()));
  if (!m.allFinite()) return {};
  for (Eigen::Index r0 = 0; r0 < vocab; r0 += kBlock) {
    Eigen::MatrixXd const l = block(w.output, r0);
    Eigen::MatrixXd const fit = block(w.tok_embeddings, r0) * m;
    for (Eigen::Index r = 0; r < l.rows(); ++r) {
      double const ref = l.row(r).norm();
      if (!((fit.row(r) - l.row(r)).norm() <= 1e-5 * ref + 1e-30)) return {};
    }
  }
  return m.cast<float>();
}

/// Packs a transformed model whose weights were quantized with `codes` (RTN or GPTQ) into the
/// engine. The embeddings and lm_head are taken from `w` in `dense`.
/// \throws UsageError when the scheme is not supported (int4_engine_unsupported).
inline std::shared_ptr<Int4Linears> make_int4_engine(model::LlamaWeights const& w,
                                                     QuantizedLinears const& codes,
                                                     QuantScheme const& s, QuantizerPlan const* plan,
                                                     DenseType dense = DenseType::kF16,
                                                     model::RowMatrix head_transform = {}) {
  std::string const why = int4_engine_unsupported(s);
  DFROT_THROW_IF(!why.empty(), UsageError, "int4 engine: ", why, "; use --fake");
  model::ModelConfig const& c = w.config;
  DFROT_THROW_IF(codes.layers.size() != c.n_layers, ShapeError, "int4 engine: codes for ",
                 codes.layers.size(), " layers, the model has ", c.n_layers);
  std::vector<PackedLayer> layers(c.n_layers);
  for (std::size_t l = 0; l < c.n_layers; ++l) {
    for (std::size_t i = 0; i < kLinearIds; ++i) {
      layers[l][i] = gemm::PackedInt4Weights::from_quantized(
          codes.layers[l][i], str_cat("blk.", l, ".", gguf_stem(static_cast<LinearId>(i))));
    }
  }
  bool const tied = head_transform.size() != 0;
  return std::make_shared<Int4Linears>(
      c, std::move(layers), DenseMatrix::make(w.tok_embeddings, dense, "token_embd"),
      tied ? DenseMatrix() : DenseMatrix::make(w.lm_head(), dense, "output"),
      activation_plan(c, s, plan), std::move(head_transform));
}

/// Rounds the embeddings and lm_head of `w` to the values `type` stores (F16: nearest even; Q8: the
/// dequantized int8 codes — the Q8 head's int8 input is not reproduced), so the
/// fake-quant path computes with exactly the engine's dense weights (its oracle must: a 4-bit
/// model amplifies even F16 rounding through the activation quantizers).
/// With a tied head transform M the lm_head becomes (rounded E)·M, as the engine computes it.
inline void round_dense_weights(model::LlamaWeights& w, DenseType type,
                                model::RowMatrix const& head_transform = {}) {
  auto round = [](model::RowMatrix& m) {
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = f16_bits_to_float(float_to_f16_bits(m.data()[i]));
  };
  auto round_q8 = [](model::RowMatrix& m, char const* name) {
    gemm::PackedInt8Weights const q = gemm::PackedInt8Weights::quantize(
        MatrixView<float const>(m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())), name);
    for (Eigen::Index r = 0; r < m.rows(); ++r) q.row_to_float(static_cast<std::size_t>(r), m.row(r).data());
  };
  if (type == DenseType::kF16) {
    round(w.tok_embeddings);
    if (!w.is_tied()) round(w.output);
  } else if (type == DenseType::kQ8) {
    round_q8(w.tok_embeddings, "token_embd");
    if (!w.is_tied()) round_q8(w.output, "output");
  }
  if (head_transform.size() != 0) w.output = w.tok_embeddings * head_transform;
}

/// Drops the FP32 decoder matrices and embeddings of `w` once an engine holds them.
inline void release_dense_weights(model::LlamaWeights& w) {
  for (auto& l : w.layers) {
    for (std::size_t i = 0; i < kLinearIds; ++i) weight_of(l, static_cast<LinearId>(i)) = model::RowMatrix();
  }
  w.tok_embeddings = model::RowMatrix();
  w.output = model::RowMatrix();
}

}  // namespace dfrot::pipeline
