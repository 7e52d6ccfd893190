// SPDX-License-Identifier: Apache-2.0
// The quantized-model file of `dfrot quantize`: a GGUF v3 file that llama.cpp-style readers (and
// dfrot's loader) open as an ordinary llama model — fused, rotated, weight-quantized tensors in F32
// plus the tokenizer — with `dfrot.*` keys recording what the weights went through and the run-time
// half of the scheme (online Hadamards, activation and KV quantizers), so `dfrot ppl` can evaluate
// it again without redoing GPTQ.
//
// Format (dfrot.format_version = 1):
//   general.architecture "llama", llama.* hyper-parameters, tokenizer.ggml.* as llama.cpp writes;
//   tensors token_embd / output_norm / output / blk.N.{attn_norm, attn_q, attn_k, attn_v,
//   attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}.weight [, rope_freqs.weight], all F32
//   (dequantized weights scale·(q − z) are exact in F32; RMSNorm weights are 1 after fusion);
//   dfrot.scheme (describe() of the scheme), dfrot.rotation, dfrot.seed, dfrot.weight.{bits,
//   method, symmetry, group_size, clip, mse_clip}, dfrot.gptq.{calib_windows, calib_len,
//   calib_seed, percdamp} (GPTQ), dfrot.gptq.{act_order, quantized_inputs,
//   fp_target, input_target, lac} (only when one is set), dfrot.online.{down_proj, o_proj, qk},
//   dfrot.act.{bits, symmetry, granularity, group_size, clip} (+ site_bits I32[4] when sites differ),
//   dfrot.k.* / dfrot.v.* {bits,
//   symmetry, clip, per_head}, dfrot.auto_asym + dfrot.skew.{tau_mean, tau_skew} (the skew plan
//   itself is measured again at load time), dfrot.rotation_file (when R1 came from a file).
#pragma once

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "dfrot/io/file_read.hpp"
#include "dfrot/io/gguf.hpp"
#include "dfrot/io/gguf_writer.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/io/llama_gguf_keys.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "dfrot/pipeline/int4_engine.hpp"
#include "dfrot/pipeline/online_transforms.hpp"
#include "dfrot/pipeline/quant_scheme.hpp"

namespace dfrot::pipeline {

inline constexpr std::uint32_t kModelFileVersion = 1;
inline constexpr std::uint32_t kInt4ModelFileVersion = 2;

/// What a quantized-model file records beyond the weights.
struct QuantizedModelInfo {
  QuantScheme scheme;             ///< as used to produce the file
  OnlineTransformOptions online;  ///< transforms the weights expect at run time
  std::uint32_t version = kModelFileVersion;  ///< 1: F32 weights (fake path), 2: packed int4
  DenseType dense = DenseType::kF16;          ///< v2: embeddings / lm_head storage
  /// v2 with --auto-asym and / or --lac: the measured symmetries and learned clip ratios
  std::optional<QuantizerPlan> plan;
  std::string chat_template;  ///< the source model's tokenizer.chat_template (written when set)
};

namespace detail {

inline std::string gguf_layer_name(std::size_t l, char const* field) {
  return str_cat("blk.", l, ".", field, ".weight");
}

inline void set_quant_config(io::GgufWriter& w, std::string const& p, quant::QuantConfig const& c) {
  w.set(p + "symmetry", io::gguf_string(std::string(quant::to_string(c.symmetry))));
  w.set(p + "granularity", io::gguf_string(std::string(quant::to_string(c.granularity))));
  w.set(p + "group_size", io::gguf_u64(c.group_size));
  w.set(p + "clip", io::gguf_f32(static_cast<double>(c.clip_ratio)));
}

inline quant::Symmetry symmetry_from(io::GgufFile const& f, std::string const& key) {
  std::string const s = f.get_string(key);
  DFROT_THROW_IF(s != "sym" && s != "asym", FormatError, f.where(), ": ", key, " = '", s,
                 "', expected sym or asym");
  return s == "sym" ? quant::Symmetry::kSym : quant::Symmetry::kAsym;
}

inline quant::QuantConfig quant_config_from(io::GgufFile const& f, std::string const& p) {
  quant::QuantConfig c;
  c.symmetry = symmetry_from(f, p + "symmetry");
  std::string const g = f.get_string(p + "granularity");
  if (g == "per-row") c.granularity = quant::Granularity::kPerRow;
  else if (g == "per-group") c.granularity = quant::Granularity::kPerGroup;
  else if (g == "per-tensor") c.granularity = quant::Granularity::kPerTensor;
  else throw FormatError(str_cat(f.where(), ": ", p, "granularity = '", g, "' is unknown"));
  c.group_size = f.get_uint(p + "group_size");
  c.clip_ratio = static_cast<float>(f.get_float(p + "clip"));
  return c;
}

inline int bits_from(io::GgufFile const& f, std::string const& key) {
  std::uint64_t const b = f.get_uint(key);
  DFROT_THROW_IF(b != 16 && (b < quant::kMinBits || b > quant::kMaxBits), FormatError, f.where(),
                 ": ", key, " = ", b, ", expected 2 … 8 or 16");
  return static_cast<int>(b);
}

}  // namespace detail

namespace detail {
/// The llama.*, tokenizer.ggml.* and dfrot.* keys shared by both file versions.
inline void set_model_metadata(io::GgufWriter& g, std::filesystem::path const& path,
                               model::LlamaWeights const& w, io::TokenizerData const& tok,
                               QuantizedModelInfo const& info, std::uint32_t version) {
  io::set_llama_gguf_metadata(g, w.config, tok, !w.rope_freq_factors.empty(),
                              str_cat("dfrot ", info.scheme.describe()), path);
  if (!info.chat_template.empty()) g.set("tokenizer.chat_template", io::gguf_string(info.chat_template));
  using namespace io;
  QuantScheme const& s = info.scheme;
  g.set("dfrot.format_version", gguf_u32(version));
  g.set("dfrot.scheme", gguf_string(s.describe()));
  g.set("dfrot.rotation", gguf_string(std::string(to_string(s.rotation))));
  g.set("dfrot.rotation_file", gguf_string(s.rotation_file));
  g.set("dfrot.seed", gguf_u64(s.seed));
  g.set("dfrot.embedding_mean", gguf_bool(s.subtract_embedding_mean));
  g.set("dfrot.r2_file", gguf_string(s.r2_file));
  g.set("dfrot.vo_rotation", gguf_string(std::string(to_string(s.vo_rotation))));
  g.set("dfrot.weight.bits", gguf_u32(static_cast<std::uint32_t>(s.w_bits)));
  g.set("dfrot.weight.method", gguf_string(std::string(to_string(s.weight_method))));
  g.set("dfrot.weight.mse_clip", gguf_bool(s.w_clip.enabled));
  if (s.weight_method == WeightMethod::kGptq) {  // so that reports of the file name its calibration
    g.set("dfrot.gptq.calib_windows", gguf_u64(s.calib.n_windows));
    g.set("dfrot.gptq.calib_len", gguf_u64(s.calib.window));
    g.set("dfrot.gptq.calib_seed", gguf_u64(s.calib.seed));
    g.set("dfrot.gptq.percdamp", gguf_f32(s.percdamp));
  }
  if (s.gptq.any()) {
    g.set("dfrot.gptq.act_order", gguf_bool(s.gptq.act_order));
    g.set("dfrot.gptq.quantized_inputs", gguf_bool(s.gptq.quantized_inputs));
    g.set("dfrot.gptq.fp_target", gguf_bool(s.gptq.fp_target));
    g.set("dfrot.gptq.input_target", gguf_bool(s.gptq.input_target));
    g.set("dfrot.gptq.lac", gguf_bool(s.gptq.learn_act_clip));
  }
  detail::set_quant_config(g, "dfrot.weight.", s.weight);
  g.set("dfrot.online.down_proj", gguf_bool(info.online.down_proj));
  g.set("dfrot.online.o_proj", gguf_bool(info.online.o_proj));
  g.set("dfrot.online.qk", gguf_bool(info.online.qk));
  g.set("dfrot.act.bits", gguf_u32(static_cast<std::uint32_t>(s.a_bits)));
  if (s.mixed_act_bits()) {
    std::array<int, 4> bits{};
    for (std::size_t i = 0; i < 4; ++i) bits[i] = s.act_bits_at(i);
    g.set("dfrot.act.site_bits", gguf_i32_array(bits));
  }
  g.set("dfrot.auto_asym", gguf_bool(s.auto_asym));
  g.set("dfrot.skew.tau_mean", gguf_f64(s.skew.tau_mean));
  g.set("dfrot.skew.tau_skew", gguf_f64(s.skew.tau_skew));
  detail::set_quant_config(g, "dfrot.act.", s.act);
  for (auto const& [p, kv, bits] : {std::tuple{"dfrot.k.", &s.k, s.k_bits}, std::tuple{"dfrot.v.", &s.v, s.v_bits}}) {
    std::string const prefix = p;
    g.set(prefix + "bits", gguf_u32(static_cast<std::uint32_t>(bits)));
    g.set(prefix + "symmetry", gguf_string(std::string(quant::to_string(kv->symmetry))));
    g.set(prefix + "clip", gguf_f32(static_cast<double>(kv->clip_ratio)));
    g.set(prefix + "per_head", gguf_bool(kv->per_head));
  }

}
}  // namespace detail

/// Writes a transformed (fused, rotated, weight-quantized) model and its tokenizer.
/// \pre the weights are untied (transform_weights fuses norms and unties).
/// \throws UsageError for tied weights, IoError when the file cannot be written.
inline void write_quantized_model(std::filesystem::path const& path, model::LlamaWeights const& w,
                                  io::TokenizerData const& tok, QuantizedModelInfo const& info) {
  DFROT_THROW_IF(w.is_tied(), UsageError, "write_quantized_model '", path.string(),
                 "': the model still ties its embeddings (transform it first)");
  io::GgufWriter g;
  detail::set_model_metadata(g, path, w, tok, info, kModelFileVersion);
  model::ModelConfig const& c = w.config;
  auto add = [&](std::string const& name, model::RowMatrix const& m) {
    g.add_f32_tensor(name, {static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())},
                     std::span<float const>(m.data(), static_cast<std::size_t>(m.size())));
  };
  auto add_vec = [&](std::string const& name, model::Vector const& v) {
    g.add_f32_tensor(name, {static_cast<std::size_t>(v.size())},
                     std::span<float const>(v.data(), static_cast<std::size_t>(v.size())));
  };
  add("token_embd.weight", w.tok_embeddings);
  add_vec("output_norm.weight", w.norm);
  add("output.weight", w.output);
  if (!w.rope_freq_factors.empty())
    g.add_f32_tensor("rope_freqs.weight", {w.rope_freq_factors.size()}, w.rope_freq_factors);
  for (std::size_t l = 0; l < c.n_layers; ++l) {
    model::LayerWeights const& L = w.layers[l];
    add_vec(detail::gguf_layer_name(l, "attn_norm"), L.attention_norm);
    add(detail::gguf_layer_name(l, "attn_q"), L.wq);
    add(detail::gguf_layer_name(l, "attn_k"), L.wk);
    add(detail::gguf_layer_name(l, "attn_v"), L.wv);
    add(detail::gguf_layer_name(l, "attn_output"), L.wo);
    add_vec(detail::gguf_layer_name(l, "ffn_norm"), L.ffn_norm);
    add(detail::gguf_layer_name(l, "ffn_gate"), L.w_gate);
    add(detail::gguf_layer_name(l, "ffn_up"), L.w_up);
    add(detail::gguf_layer_name(l, "ffn_down"), L.w_down);
  }
  g.write(path);
}

namespace detail {
/// A skew plan as text: one group of kQuantSites letters (s = sym, a = asym) per layer, separated
/// by commas (dfrot.skew_plan).
inline std::string format_skew_plan(QuantizerPlan const& p) {
  std::string out;
  for (std::size_t l = 0; l < p.symmetry.size(); ++l) {
    if (l) out += ',';
    for (quant::Symmetry sym : p.symmetry[l]) out += sym == quant::Symmetry::kSym ? 's' : 'a';
  }
  return out;
}
inline QuantizerPlan parse_skew_plan(std::string const& text, std::size_t n_layers, std::string const& where) {
  QuantizerPlan p;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t const end = std::min(text.find(',', pos), text.size());
    std::string const layer = text.substr(pos, end - pos);
    DFROT_THROW_IF(layer.size() != kQuantSites || layer.find_first_not_of("sa") != std::string::npos,
                   FormatError, where, ": dfrot.skew_plan layer ", p.symmetry.size(), " is '", layer,
                   "', expected ", kQuantSites, " letters s/a");
    std::array<quant::Symmetry, kQuantSites> sym{};
    for (std::size_t i = 0; i < kQuantSites; ++i)
      sym[i] = layer[i] == 's' ? quant::Symmetry::kSym : quant::Symmetry::kAsym;
    p.symmetry.push_back(sym);
    pos = end + 1;
  }
  DFROT_THROW_IF(p.symmetry.size() != n_layers, FormatError, where, ": dfrot.skew_plan has ",
                 p.symmetry.size(), " layers, the model ", n_layers);
  return p;
}
/// A clip plan as the F32 array dfrot.clip_plan: kQuantSites ratios per layer, layer-major.
inline std::vector<float> flatten_clip_plan(QuantizerPlan const& p) {
  std::vector<float> out;
  for (auto const& l : p.clip) out.insert(out.end(), l.begin(), l.end());
  return out;
}
/// \throws FormatError for a wrong length or a ratio outside (0, 1] (NaN included), naming the
/// layer and site.
inline std::vector<std::array<float, kQuantSites>> parse_clip_plan(std::vector<double> const& v,
                                                                  std::size_t n_layers,
                                                                  std::string const& where) {
  DFROT_THROW_IF(v.size() != n_layers * kQuantSites, FormatError, where, ": dfrot.clip_plan has ", v.size(),
                 " values, expected ", n_layers, " layers × ", kQuantSites, " sites");
  std::vector<std::array<float, kQuantSites>> out(n_layers);
  for (std::size_t l = 0; l < n_layers; ++l) {
    for (std::size_t i = 0; i < kQuantSites; ++i) {
      double const c = v[l * kQuantSites + i];
      DFROT_THROW_IF(!(c > 0 && c <= 1), FormatError, where, ": dfrot.clip_plan ",
                     skew_site_name(l, static_cast<QuantSite>(i)), " = ", c, " is outside (0, 1]");
      out[l][i] = static_cast<float>(c);
    }
  }
  return out;
}
inline QuantizedModelInfo read_info(io::GgufFile const& f);
}  // namespace detail

/// The dfrot.* record of a quantized-model file; nullopt for any other model (not GGUF, or a GGUF
/// without dfrot.format_version). \throws FormatError for a dfrot file of an unknown version or
/// with malformed dfrot.* keys.
inline std::optional<QuantizedModelInfo> read_quantized_model_info(std::filesystem::path const& path) {
  if (!io::starts_with_magic(path, "GGUF")) return std::nullopt;
  io::GgufFile const f(path);
  if (!f.contains("dfrot.format_version")) return std::nullopt;
  return detail::read_info(f);
}

namespace detail {
inline QuantizedModelInfo read_info(io::GgufFile const& f) {
  std::uint64_t const version = f.get_uint("dfrot.format_version");
  DFROT_THROW_IF(version != kModelFileVersion && version != kInt4ModelFileVersion, FormatError,
                 f.where(), ": dfrot.format_version ", version,
                 " is not supported (this dfrot reads versions 1 and 2)");
  QuantizedModelInfo info;
  info.version = static_cast<std::uint32_t>(version);
  QuantScheme& s = info.scheme;
  std::string const rot = f.get_string("dfrot.rotation");
  if (rot == "none") s.rotation = RotationKind::kNone;
  else if (rot == "random") s.rotation = RotationKind::kRandom;
  else if (rot == "hadamard") s.rotation = RotationKind::kHadamard;
  else if (rot == "file") s.rotation = RotationKind::kFile;
  else throw FormatError(str_cat(f.where(), ": dfrot.rotation = '", rot, "' is unknown"));
  s.rotation_file = f.get_string_or("dfrot.rotation_file", "");
  s.seed = f.get_uint("dfrot.seed");
  s.subtract_embedding_mean = f.get_bool_or("dfrot.embedding_mean", false);
  s.r2_file = f.get_string_or("dfrot.r2_file", "");
  s.vo_rotation = f.get_string_or("dfrot.vo_rotation", "quarot") == "per-head" ? VoRotation::kPerHead
                                                                               : VoRotation::kQuaRot;
  s.w_bits = detail::bits_from(f, "dfrot.weight.bits");
  s.weight_method = f.get_string("dfrot.weight.method") == "gptq" ? WeightMethod::kGptq : WeightMethod::kRtn;
  s.w_clip.enabled = f.get_bool("dfrot.weight.mse_clip");
  s.calib.n_windows = f.get_uint_or("dfrot.gptq.calib_windows", s.calib.n_windows);
  s.calib.window = f.get_uint_or("dfrot.gptq.calib_len", s.calib.window);
  s.calib.seed = f.get_uint_or("dfrot.gptq.calib_seed", s.seed);
  s.percdamp = f.get_float_or("dfrot.gptq.percdamp", s.percdamp);
  s.gptq.act_order = f.get_bool_or("dfrot.gptq.act_order", false);
  s.gptq.quantized_inputs = f.get_bool_or("dfrot.gptq.quantized_inputs", false);
  s.gptq.fp_target = f.get_bool_or("dfrot.gptq.fp_target", false);
  s.gptq.input_target = f.get_bool_or("dfrot.gptq.input_target", false);
  s.gptq.learn_act_clip = f.get_bool_or("dfrot.gptq.lac", false);
  s.weight = detail::quant_config_from(f, "dfrot.weight.");
  info.online.down_proj = f.get_bool("dfrot.online.down_proj");
  info.online.o_proj = f.get_bool("dfrot.online.o_proj");
  info.online.qk = f.get_bool("dfrot.online.qk");
  s.a_bits = detail::bits_from(f, "dfrot.act.bits");
  if (f.contains("dfrot.act.site_bits")) {
    std::vector<std::int64_t> const bits = f.get_int_array("dfrot.act.site_bits");
    DFROT_THROW_IF(bits.size() != 4, FormatError, f.where(), ": dfrot.act.site_bits has ", bits.size(),
                   " values, expected 4 (qkv, o_proj, gate_up, down_proj)");
    for (std::size_t i = 0; i < 4; ++i) {
      DFROT_THROW_IF(bits[i] != 16 && (bits[i] < quant::kMinBits || bits[i] > quant::kMaxBits), FormatError,
                     f.where(), ": dfrot.act.site_bits[", i, "] = ", bits[i], ", expected 2 … 8 or 16");
      s.a_site_bits[i] = static_cast<int>(bits[i]);
    }
  }
  s.auto_asym = f.get_bool_or("dfrot.auto_asym", false);
  s.skew.tau_mean = f.get_float_or("dfrot.skew.tau_mean", s.skew.tau_mean);
  s.skew.tau_skew = f.get_float_or("dfrot.skew.tau_skew", s.skew.tau_skew);
  s.act = detail::quant_config_from(f, "dfrot.act.");
  for (auto const& [p, kv, bits] : {std::tuple{"dfrot.k.", &s.k, &s.k_bits}, std::tuple{"dfrot.v.", &s.v, &s.v_bits}}) {
    std::string const prefix = p;
    *bits = detail::bits_from(f, prefix + "bits");
    kv->symmetry = detail::symmetry_from(f, prefix + "symmetry");
    kv->clip_ratio = static_cast<float>(f.get_float(prefix + "clip"));
    kv->per_head = f.get_bool(prefix + "per_head");
  }
  if (info.version == kInt4ModelFileVersion) {
    std::string const dense = f.get_string("dfrot.dense_type");
    DFROT_THROW_IF(dense != "f16" && dense != "q8" && dense != "f32", FormatError, f.where(),
                   ": dfrot.dense_type = '", dense, "', expected f16, q8 or f32");
    info.dense = parse_dense_type(dense);
    std::string const plan = f.get_string_or("dfrot.skew_plan", "");
    std::size_t const n_layers = f.get_uint("llama.block_count");
    if (!plan.empty()) info.plan = parse_skew_plan(plan, n_layers, f.where());
    if (f.contains("dfrot.clip_plan")) {
      if (!info.plan) info.plan.emplace();
      info.plan->clip = parse_clip_plan(f.get_float_array("dfrot.clip_plan"), n_layers, f.where());
    }
  }
  return info;
}
}  // namespace detail


/// \name Version 2: the int4 engine's file (`dfrot quantize`, default)
/// Tensors: token_embd.weight and output.weight in F16 (or F32, dfrot.dense_type) — or, when the
/// source model ties them, token_embd.weight and the F32 d×d `output.transform` M with
/// lm_head = E·M (tied_head_transform) — output_norm,
/// blk.N.attn_norm / ffn_norm and rope_freqs in F32, and for each decoder linear blk.N.<stem>
/// (attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down) three tensors in the panel
/// layout of gemm/packed_int4_weights.hpp: `<stem>.codes` I8 [n_out_pad, k_pad/2] (offset-binary
/// nibbles), `<stem>.scales` F32 [n_out_pad], `<stem>.row_sums` I32 [n_out_pad]. Keys as version 1
/// plus dfrot.dense_type ("f16" | "q8" | "f32"), with --auto-asym dfrot.skew_plan (the measured
/// symmetries, detail::format_skew_plan) and with --lac dfrot.clip_plan (F32 [n_layers × 6]: the
/// learned clip ratio of every layer's qkv, o_proj, gate/up, down_proj inputs, K and V). With dense type q8, token_embd and output are stored
/// like the linears, in the layout of gemm/packed_int8_weights.hpp: `token_embd.codes` I8
/// [n_out_pad, k_pad] (offset-binary bytes), `.scales` F32 and `.row_sums` I32 [n_out_pad].
/// The codes and F16 matrices are used from the mapping,
/// never copied; no FP32 decoder weight is ever materialized. llama.cpp cannot run this file.
/// @{

namespace detail {
/// The tensors of a dense matrix (embeddings or lm_head) stored as `type`, in file order.
inline void add_dense_specs(std::vector<io::GgufTensorSpec>& out, std::string const& name,
                            DenseType type, std::size_t rows, std::size_t cols) {
  if (type == DenseType::kQ8) {
    std::string const stem = name.substr(0, name.find('.'));
    std::size_t const n_pad = gemm::round_up(rows, gemm::kPanelRows), k_pad = gemm::round_up(cols, gemm::kOctet);
    out.push_back({stem + ".codes", {n_pad, k_pad}, io::GgmlType::kI8});
    out.push_back({stem + ".scales", {n_pad}, io::GgmlType::kF32});
    out.push_back({stem + ".row_sums", {n_pad}, io::GgmlType::kI32});
  } else {
    out.push_back({name, {rows, cols}, type == DenseType::kF16 ? io::GgmlType::kF16 : io::GgmlType::kF32});
  }
}

/// The tensor table of a version-2 file, in file order (see the format above).
inline std::vector<io::GgufTensorSpec> int4_model_specs(model::ModelConfig const& c, DenseType dense,
                                                        bool tied_head, bool rope_freqs) {
  std::vector<io::GgufTensorSpec> specs;
  std::size_t const d = c.hidden;
  add_dense_specs(specs, "token_embd.weight", dense, c.vocab, d);
  specs.push_back({"output_norm.weight", {d}, io::GgmlType::kF32});
  if (tied_head) specs.push_back({"output.transform", {d, d}, io::GgmlType::kF32});
  else add_dense_specs(specs, "output.weight", dense, c.vocab, d);
  if (rope_freqs) specs.push_back({"rope_freqs.weight", {c.head_dim / 2}, io::GgmlType::kF32});
  for (std::size_t l = 0; l < c.n_layers; ++l) {
    specs.push_back({gguf_layer_name(l, "attn_norm"), {d}, io::GgmlType::kF32});
    specs.push_back({gguf_layer_name(l, "ffn_norm"), {d}, io::GgmlType::kF32});
    for (std::size_t i = 0; i < kLinearIds; ++i) {
      std::string const stem = str_cat("blk.", l, ".", gguf_stem(static_cast<LinearId>(i)));
      auto const [n_out, n_in] = linear_shape(c, static_cast<LinearId>(i));
      std::size_t const n_pad = gemm::round_up(n_out, gemm::kPanelRows), k_pad = gemm::round_up(n_in, gemm::kOctet);
      specs.push_back({stem + ".codes", {n_pad, k_pad / 2}, io::GgmlType::kI8});
      specs.push_back({stem + ".scales", {n_pad}, io::GgmlType::kF32});
      specs.push_back({stem + ".row_sums", {n_pad}, io::GgmlType::kI32});
    }
  }
  return specs;
}

/// The metadata of a version-2 file (everything but the tensors).
inline io::GgufWriter int4_model_metadata(std::filesystem::path const& path, model::LlamaWeights const& w,
                                          io::TokenizerData const& tok, QuantizedModelInfo const& info) {
  io::GgufWriter g;
  set_model_metadata(g, path, w, tok, info, kInt4ModelFileVersion);
  g.set("dfrot.dense_type", io::gguf_string(std::string(to_string(info.dense))));
  g.set("dfrot.weight.layout", io::gguf_string("panel16x8"));
  if (info.plan && info.plan->has_symmetry())
    g.set("dfrot.skew_plan", io::gguf_string(format_skew_plan(*info.plan)));
  if (info.plan && info.plan->has_clip()) {
    std::vector<float> const clip = flatten_clip_plan(*info.plan);
    g.set("dfrot.clip_plan", io::gguf_f32_array(clip));
  }
  return g;
}

template <class T>
std::span<std::byte const> bytes_of(T const* p, std::size_t n) {
  return std::as_bytes(std::span<T const>(p, n));
}
inline void append_f32(io::GgufStreamWriter& out, std::string const& name, float const* p, std::size_t n) {
  out.append(name, bytes_of(p, n));
}
inline void append_dense(io::GgufStreamWriter& out, std::string const& name, DenseMatrix const& m) {
  if (m.type() == DenseType::kQ8) {
    gemm::PackedInt8Weights const& q = m.q8();
    std::string const stem = name.substr(0, name.find('.'));
    out.append(stem + ".codes", bytes_of(q.codes(), q.code_bytes()));
    out.append(stem + ".scales", bytes_of(q.scales(), q.n_out_pad()));
    out.append(stem + ".row_sums", bytes_of(q.row_sums(), q.n_out_pad()));
  } else if (m.type() == DenseType::kF16) {
    out.append(name, bytes_of(m.f16().data(), m.rows() * m.cols()));
  } else {
    out.append(name, bytes_of(m.f32().data(), m.rows() * m.cols()));
  }
}
/// The dense head of a version-2 file: embeddings, final norm, lm_head or its transform, RoPE.
inline void append_int4_dense(io::GgufStreamWriter& out, model::LlamaWeights const& w,
                              DenseMatrix const& embeddings, DenseMatrix const& lm_head,
                              model::RowMatrix const& head_transform) {
  append_dense(out, "token_embd.weight", embeddings);
  append_f32(out, "output_norm.weight", w.norm.data(), static_cast<std::size_t>(w.norm.size()));
  if (head_transform.size() != 0) {
    append_f32(out, "output.transform", head_transform.data(), static_cast<std::size_t>(head_transform.size()));
  } else {
    append_dense(out, "output.weight", lm_head);
  }
  if (!w.rope_freq_factors.empty())
    append_f32(out, "rope_freqs.weight", w.rope_freq_factors.data(), w.rope_freq_factors.size());
}
/// Layer `l` of a version-2 file: its norms and its seven packed linears.
inline void append_int4_layer(io::GgufStreamWriter& out, std::size_t l, model::LayerWeights const& norms,
                              PackedLayer const& packed) {
  append_f32(out, gguf_layer_name(l, "attn_norm"), norms.attention_norm.data(),
             static_cast<std::size_t>(norms.attention_norm.size()));
  append_f32(out, gguf_layer_name(l, "ffn_norm"), norms.ffn_norm.data(),
             static_cast<std::size_t>(norms.ffn_norm.size()));
  for (std::size_t i = 0; i < kLinearIds; ++i) {
    gemm::PackedInt4Weights const& p = packed[i];
    std::string const stem = str_cat("blk.", l, ".", gguf_stem(static_cast<LinearId>(i)));
    out.append(stem + ".codes", bytes_of(p.codes(), p.code_bytes()));
    out.append(stem + ".scales", bytes_of(p.scales(), p.n_out_pad()));
    out.append(stem + ".row_sums", bytes_of(p.row_sums(), p.n_out_pad()));
  }
}
}  // namespace detail

/// Writes the engine `e` of a transformed model `w` (norms and RoPE factors are taken from `w`).
/// The bytes equal those of the layer-streamed writer (pipeline/streamed_quantize.hpp).
/// \throws IoError when the file cannot be written.
inline void write_int4_model(std::filesystem::path const& path, model::LlamaWeights const& w,
                             Int4Linears const& e, io::TokenizerData const& tok,
                             QuantizedModelInfo const& info) {
  QuantizedModelInfo stored = info;
  stored.dense = e.embeddings().type();
  io::GgufWriter const g = detail::int4_model_metadata(path, w, tok, stored);
  io::GgufStreamWriter out = g.stream(
      path, detail::int4_model_specs(w.config, stored.dense, e.tied(), !w.rope_freq_factors.empty()));
  try {
    detail::append_int4_dense(out, w, e.embeddings(), e.lm_head(), e.head_transform());
    for (std::size_t l = 0; l < w.config.n_layers; ++l)
      detail::append_int4_layer(out, l, w.layers[l], e.layers()[l]);
    out.commit();
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(out.partial_path(), ec);  // an in-memory write is not resumable
    throw;
  }
}

/// A version-2 file opened for inference: the model (norms only, linears through `engine`, KV
/// format set) over the file's mapping.
struct Int4Model {
  std::unique_ptr<model::LlamaModel> model;
  std::shared_ptr<Int4Linears> engine;
  QuantizedModelInfo info;
  std::optional<io::TokenizerData> tokenizer;
  std::size_t file_bytes = 0;
};

namespace detail {
inline std::string shape_text(std::vector<std::size_t> const& shape) {
  std::string out;
  for (std::size_t i = 0; i < shape.size(); ++i) out += str_cat(i ? "x" : "", shape[i]);
  return out;
}
template <class T>
std::span<T const> typed_tensor(io::GgufFile const& f, std::string const& name, io::GgmlType type,
                                std::vector<std::size_t> const& shape) {
  io::GgufTensorInfo const& t = f.tensor(name);
  DFROT_THROW_IF(t.type != type || t.shape() != shape, FormatError, f.where(), ": tensor '", name,
                 "' is ", io::ggml_type_name(t.type), " [", shape_text(t.shape()), "], expected ",
                 io::ggml_type_name(type), " [", shape_text(shape), "]");
  std::span<std::byte const> const b = f.tensor_bytes(t);
  DFROT_THROW_IF(reinterpret_cast<std::uintptr_t>(b.data()) % alignof(T) != 0, FormatError, f.where(),
                 ": tensor '", name, "' is not aligned");
  return {reinterpret_cast<T const*>(b.data()), b.size() / sizeof(T)};
}
inline model::Vector f32_vector(io::GgufFile const& f, std::string const& name, std::size_t n) {
  std::span<float const> const v = typed_tensor<float>(f, name, io::GgmlType::kF32, {n});
  model::Vector out = Eigen::Map<model::Vector const>(v.data(), static_cast<Eigen::Index>(n));
  DFROT_THROW_IF(!out.allFinite(), FormatError, f.where(), ": tensor '", name, "' is not finite");
  return out;
}
inline DenseMatrix dense_tensor(io::GgufFile const& f, std::shared_ptr<io::GgufFile const> const& keep,
                                std::string const& name, DenseType type, std::size_t rows,
                                std::size_t cols) {
  if (type == DenseType::kQ8) {
    std::string const stem = name.substr(0, name.find('.'));
    std::size_t const n_pad = gemm::round_up(rows, gemm::kPanelRows), k_pad = gemm::round_up(cols, gemm::kOctet);
    auto const codes = typed_tensor<std::uint8_t>(f, stem + ".codes", io::GgmlType::kI8, {n_pad, k_pad});
    auto const scales = typed_tensor<float>(f, stem + ".scales", io::GgmlType::kF32, {n_pad});
    auto const sums = typed_tensor<std::int32_t>(f, stem + ".row_sums", io::GgmlType::kI32, {n_pad});
    auto q = gemm::PackedInt8Weights::view(rows, cols, codes, scales, sums, keep, str_cat(f.where(), ": ", stem));
    q.check(str_cat(f.where(), ": ", stem));
    return DenseMatrix::from_q8(std::move(q));
  }
  if (type == DenseType::kF16) {
    return DenseMatrix::from_f16(gemm::F16Matrix::view(
        rows, cols, typed_tensor<std::uint16_t>(f, name, io::GgmlType::kF16, {rows, cols}), keep, name));
  }
  std::span<float const> const v = typed_tensor<float>(f, name, io::GgmlType::kF32, {rows, cols});
  return DenseMatrix::from_f32(Eigen::Map<model::RowMatrix const>(
      v.data(), static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols)));
}
}  // namespace detail

/// Opens a version-2 file: mmap, validate every tensor (type, shape, row sums against the codes,
/// finite scales), build the engine over the mapping. Run-time settings (activation bits, KV) may
/// be changed through `scheme_override` (the stored scheme with run-time flags applied).
/// \throws FormatError naming the file and tensor for anything malformed, UsageError for a
/// version-1 file (F32 weights: run it with the fake path) or an unsupported run-time scheme.
inline Int4Model load_int4_model(std::filesystem::path const& path, std::size_t max_positions,
                                 QuantScheme const* scheme_override = nullptr) {
  auto const file = std::make_shared<io::GgufFile const>(path);
  io::GgufFile const& f = *file;
  DFROT_THROW_IF(!f.contains("dfrot.format_version"), UsageError, f.where(),
                 ": not a dfrot quantized model");
  Int4Model out;
  out.info = detail::read_info(f);
  out.file_bytes = f.file_size();
  DFROT_THROW_IF(out.info.version != kInt4ModelFileVersion, UsageError, f.where(),
                 ": a version-", out.info.version,
                 " file (dequantized F32 weights, written by an older dfrot quantize) runs on the "
                 "fake-quant path only (--fake); quantize again for the int4 engine");
  QuantScheme const& s = scheme_override ? *scheme_override : out.info.scheme;
  model::LlamaWeights w;
  w.config = io::gguf_llama_hparams(f);
  model::ModelConfig const& c = w.config;
  model::validate(c);
  std::size_t const d = c.hidden;
  w.norm = detail::f32_vector(f, "output_norm.weight", d);
  if (f.find_tensor("rope_freqs.weight") != nullptr) {
    std::span<float const> const r =
        detail::typed_tensor<float>(f, "rope_freqs.weight", io::GgmlType::kF32, {c.head_dim / 2});
    w.rope_freq_factors.assign(r.begin(), r.end());
  }
  std::vector<PackedLayer> layers(c.n_layers);
  w.layers.resize(c.n_layers);
  for (std::size_t l = 0; l < c.n_layers; ++l) {
    w.layers[l].attention_norm = detail::f32_vector(f, detail::gguf_layer_name(l, "attn_norm"), d);
    w.layers[l].ffn_norm = detail::f32_vector(f, detail::gguf_layer_name(l, "ffn_norm"), d);
    for (std::size_t i = 0; i < kLinearIds; ++i) {
      std::string const stem = str_cat("blk.", l, ".", gguf_stem(static_cast<LinearId>(i)));
      auto const [n_out, n_in] = linear_shape(c, static_cast<LinearId>(i));
      std::size_t const n_pad = gemm::round_up(n_out, gemm::kPanelRows), k_pad = gemm::round_up(n_in, gemm::kOctet);
      auto const codes = detail::typed_tensor<std::uint8_t>(f, stem + ".codes", io::GgmlType::kI8, {n_pad, k_pad / 2});
      auto const scales = detail::typed_tensor<float>(f, stem + ".scales", io::GgmlType::kF32, {n_pad});
      auto const sums = detail::typed_tensor<std::int32_t>(f, stem + ".row_sums", io::GgmlType::kI32, {n_pad});
      layers[l][i] = gemm::PackedInt4Weights::view(n_out, n_in, codes, scales, sums, file,
                                                   str_cat(f.where(), ": ", stem));
      layers[l][i].check_row_sums(str_cat(f.where(), ": ", stem));
    }
  }
  DenseMatrix emb = detail::dense_tensor(f, file, "token_embd.weight", out.info.dense, c.vocab, d);
  model::RowMatrix head_transform;
  DenseMatrix head;
  if (f.find_tensor("output.transform") != nullptr) {  // lm_head tied to the embeddings
    std::span<float const> const m =
        detail::typed_tensor<float>(f, "output.transform", io::GgmlType::kF32, {d, d});
    head_transform = Eigen::Map<model::RowMatrix const>(m.data(), static_cast<Eigen::Index>(d),
                                                        static_cast<Eigen::Index>(d));
    DFROT_THROW_IF(!head_transform.allFinite(), FormatError, f.where(),
                   ": tensor 'output.transform' is not finite");
  } else {
    head = detail::dense_tensor(f, file, "output.weight", out.info.dense, c.vocab, d);
  }
  std::string const why = int4_engine_unsupported(s);
  DFROT_THROW_IF(!why.empty(), UsageError, f.where(), ": the int4 engine cannot run this scheme: ", why);
  QuantizerPlan const* plan = out.info.plan ? &*out.info.plan : nullptr;
  auto engine = std::make_shared<Int4Linears>(c, std::move(layers), std::move(emb), std::move(head),
                                              activation_plan(c, s, plan), std::move(head_transform));
  out.tokenizer = io::tokenizer_from_gguf(f);
  out.model = std::make_unique<model::LlamaModel>(std::move(w), max_positions);
  out.model->set_linears(engine);
  out.model->set_kv_format(kv_cache_format(c, s, plan));
  out.engine = std::move(engine);
  return out;
}

/// The FP32 weights an engine computes with (dequantized codes, widened F16): the fake-quant
/// oracle of a version-2 file (`--fake`). Materializes every decoder matrix.
inline model::LlamaWeights dequantized_weights(model::LlamaWeights const& norms, Int4Linears const& e) {
  model::LlamaWeights w;
  w.config = norms.config;
  w.norm = norms.norm;
  w.rope_freq_factors = norms.rope_freq_factors;
  auto dense = [](DenseMatrix const& m) {
    model::RowMatrix r(static_cast<Eigen::Index>(m.rows()), static_cast<Eigen::Index>(m.cols()));
    for (std::size_t i = 0; i < m.rows(); ++i) m.row(i, {r.row(static_cast<Eigen::Index>(i)).data(), m.cols()});
    return r;
  };
  w.tok_embeddings = dense(e.embeddings());
  w.output = e.tied() ? model::RowMatrix(w.tok_embeddings * e.head_transform()) : dense(e.lm_head());
  w.layers.resize(norms.layers.size());
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    w.layers[l].attention_norm = norms.layers[l].attention_norm;
    w.layers[l].ffn_norm = norms.layers[l].ffn_norm;
    for (std::size_t i = 0; i < kLinearIds; ++i) {
      gemm::PackedInt4Weights const& p = e.layers()[l][i];
      model::RowMatrix m(static_cast<Eigen::Index>(p.n_out()), static_cast<Eigen::Index>(p.n_in()));
      for (std::size_t o = 0; o < p.n_out(); ++o)
        for (std::size_t k = 0; k < p.n_in(); ++k)
          m(static_cast<Eigen::Index>(o), static_cast<Eigen::Index>(k)) = p.value(o, k);
      weight_of(w.layers[l], static_cast<LinearId>(i)) = std::move(m);
    }
  }
  return w;
}
/// @}

}  // namespace dfrot::pipeline
