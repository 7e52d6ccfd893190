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
//   method, symmetry, group_size, clip, mse_clip}, dfrot.online.{down_proj, o_proj, qk},
//   dfrot.act.{bits, symmetry, granularity, group_size, clip}, dfrot.k.* / dfrot.v.* {bits,
//   symmetry, clip, per_head}, dfrot.auto_asym + dfrot.skew.{tau_mean, tau_skew} (the skew plan
//   itself is measured again at load time), dfrot.rotation_file (when R1 came from a file).
#pragma once

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "dfrot/io/gguf.hpp"
#include "dfrot/io/gguf_writer.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "dfrot/pipeline/online_transforms.hpp"
#include "dfrot/pipeline/quant_scheme.hpp"

namespace dfrot::pipeline {

inline constexpr std::uint32_t kModelFileVersion = 1;

/// What a quantized-model file records beyond the weights.
struct QuantizedModelInfo {
  QuantScheme scheme;             ///< as used to produce the file
  OnlineTransformOptions online;  ///< transforms the weights expect at run time
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

/// Writes a transformed (fused, rotated, weight-quantized) model and its tokenizer.
/// \pre the weights are untied (transform_weights fuses norms and unties).
/// \throws UsageError for tied weights, IoError when the file cannot be written.
inline void write_quantized_model(std::filesystem::path const& path, model::LlamaWeights const& w,
                                  io::TokenizerData const& tok, QuantizedModelInfo const& info) {
  DFROT_THROW_IF(w.is_tied(), UsageError, "write_quantized_model '", path.string(),
                 "': the model still ties its embeddings (transform it first)");
  model::ModelConfig const& c = w.config;
  io::GgufWriter g;
  using namespace io;
  g.set("general.architecture", gguf_string("llama"));
  g.set("general.name", gguf_string(str_cat("dfrot ", info.scheme.describe())));
  g.set("llama.context_length", gguf_u32(static_cast<std::uint32_t>(c.max_seq_len)));
  g.set("llama.embedding_length", gguf_u32(static_cast<std::uint32_t>(c.hidden)));
  g.set("llama.block_count", gguf_u32(static_cast<std::uint32_t>(c.n_layers)));
  g.set("llama.feed_forward_length", gguf_u32(static_cast<std::uint32_t>(c.intermediate)));
  g.set("llama.attention.head_count", gguf_u32(static_cast<std::uint32_t>(c.n_heads)));
  g.set("llama.attention.head_count_kv", gguf_u32(static_cast<std::uint32_t>(c.n_kv_heads)));
  g.set("llama.attention.key_length", gguf_u32(static_cast<std::uint32_t>(c.head_dim)));
  g.set("llama.attention.value_length", gguf_u32(static_cast<std::uint32_t>(c.head_dim)));
  g.set("llama.rope.dimension_count", gguf_u32(static_cast<std::uint32_t>(c.head_dim)));
  g.set("llama.rope.freq_base", gguf_f32(c.rope_theta));
  g.set("llama.attention.layer_norm_rms_epsilon", gguf_f32(c.norm_eps));
  g.set("llama.vocab_size", gguf_u32(static_cast<std::uint32_t>(c.vocab)));
  if (c.rope_scaling == io::RopeScalingType::kLinear) {
    g.set("llama.rope.scaling.type", gguf_string("linear"));
    g.set("llama.rope.scaling.factor", gguf_f32(c.rope_factor));
  } else {
    DFROT_THROW_IF(c.rope_scaling != io::RopeScalingType::kNone && w.rope_freq_factors.empty(),
                   UsageError, "write_quantized_model '", path.string(),
                   "': this RoPE scaling can only be stored as a rope_freqs tensor, which the "
                   "model does not have");
  }
  bool const spm = tok.kind == io::TokenizerData::Kind::kSentencePieceBpe;
  g.set("tokenizer.ggml.model", gguf_string(spm ? "llama" : "gpt2"));
  g.set("tokenizer.ggml.pre", gguf_string(tok.pre));
  g.set("tokenizer.ggml.tokens", gguf_string_array(tok.tokens));
  if (!tok.scores.empty()) g.set("tokenizer.ggml.scores", gguf_f32_array(tok.scores));
  g.set("tokenizer.ggml.token_type", gguf_i32_array(tok.token_types));
  if (!tok.merges.empty()) g.set("tokenizer.ggml.merges", gguf_string_array(tok.merges));
  if (tok.bos_id >= 0) g.set("tokenizer.ggml.bos_token_id", gguf_u32(static_cast<std::uint32_t>(tok.bos_id)));
  if (tok.eos_id >= 0) g.set("tokenizer.ggml.eos_token_id", gguf_u32(static_cast<std::uint32_t>(tok.eos_id)));
  if (tok.unk_id >= 0) g.set("tokenizer.ggml.unknown_token_id", gguf_u32(static_cast<std::uint32_t>(tok.unk_id)));
  g.set("tokenizer.ggml.add_bos_token", gguf_bool(tok.add_bos));
  g.set("tokenizer.ggml.add_space_prefix", gguf_bool(tok.add_space_prefix));

  QuantScheme const& s = info.scheme;
  g.set("dfrot.format_version", gguf_u32(kModelFileVersion));
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
  detail::set_quant_config(g, "dfrot.weight.", s.weight);
  g.set("dfrot.online.down_proj", gguf_bool(info.online.down_proj));
  g.set("dfrot.online.o_proj", gguf_bool(info.online.o_proj));
  g.set("dfrot.online.qk", gguf_bool(info.online.qk));
  g.set("dfrot.act.bits", gguf_u32(static_cast<std::uint32_t>(s.a_bits)));
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

/// The dfrot.* record of a quantized-model file; nullopt for any other model (not GGUF, or a GGUF
/// without dfrot.format_version). \throws FormatError for a dfrot file of an unknown version or
/// with malformed dfrot.* keys.
inline std::optional<QuantizedModelInfo> read_quantized_model_info(std::filesystem::path const& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  {
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    in.read(magic, 4);
    if (!in || std::string_view(magic, 4) != "GGUF") return std::nullopt;
  }
  io::GgufFile const f(path);
  if (!f.contains("dfrot.format_version")) return std::nullopt;
  std::uint64_t const version = f.get_uint("dfrot.format_version");
  DFROT_THROW_IF(version != kModelFileVersion, FormatError, f.where(), ": dfrot.format_version ",
                 version, " is not supported (this dfrot reads version ", kModelFileVersion, ")");
  QuantizedModelInfo info;
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
  s.weight = detail::quant_config_from(f, "dfrot.weight.");
  info.online.down_proj = f.get_bool("dfrot.online.down_proj");
  info.online.o_proj = f.get_bool("dfrot.online.o_proj");
  info.online.qk = f.get_bool("dfrot.online.qk");
  s.a_bits = detail::bits_from(f, "dfrot.act.bits");
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
  return info;
}

}  // namespace dfrot::pipeline
