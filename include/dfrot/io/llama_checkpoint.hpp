// SPDX-License-Identifier: Apache-2.0
// LlamaCheckpoint: the one canonical in-memory LLaMA-family model (hyper-parameters, float
// tensors with Meta/llama2.c names, tokenizer data) and load_llama_checkpoint(), which reads GGUF,
// llama2.c and Hugging Face safetensors checkpoints into it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/file_read.hpp"
#include "dfrot/io/gguf.hpp"
#include "dfrot/io/llama2c.hpp"
#include "dfrot/io/safetensors.hpp"
#include "dfrot/io/tensor.hpp"

namespace dfrot::io {

/// RoPE frequency scaling. kLinear divides positions by rope_factor; kLlama3 is LLaMA-3.1's
/// smooth per-frequency scaling (rope_factor, low/high_freq_factor, rope_original_max_pos).
enum class RopeScalingType { kNone, kLinear, kLlama3 };

/// Hyper-parameters of a LLaMA-family model, whatever the source format.
struct LlamaHParams {
  std::string architecture;  ///< as stored ("llama", "mistral"); all are run as llama
  std::size_t hidden = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  std::size_t intermediate = 0, vocab = 0, max_seq_len = 0;
  double rope_theta = 10000, norm_eps = 1e-5;
  RopeScalingType rope_scaling = RopeScalingType::kNone;
  double rope_factor = 1, rope_low_freq_factor = 1, rope_high_freq_factor = 4;
  std::size_t rope_original_max_pos = 0;
  bool tied_embeddings = false;  ///< output projection = tok_embeddings (no `output` tensor)
  int bos_id = -1, eos_id = -1;
};

/// Vocabulary and tokenizer settings, enough to build a dfrot::tokenizer::Tokenizer.
/// token_types use llama.cpp's ids: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
/// 6 byte. SentencePiece pieces use U+2581 for spaces; byte-level pieces use GPT-2's byte-to-
/// unicode mapping.
struct TokenizerData {
  enum class Kind { kSentencePieceBpe, kByteLevelBpe } kind = Kind::kSentencePieceBpe;
  std::vector<std::string> tokens;
  std::vector<float> scores;        ///< SPM merge priorities (empty or one per token)
  std::vector<int> token_types;     ///< one per token
  std::vector<std::string> merges;  ///< byte-level BPE: "left right", highest priority first
  std::string pre;  ///< GGUF tokenizer.ggml.pre ("smollm", "llama-bpe", "gpt2", "default")
  int bos_id = -1, eos_id = -1, unk_id = -1;
  bool add_bos = true, add_space_prefix = true;
};

/// Token types (llama.cpp numbering, stored in GGUF tokenizer.ggml.token_type).
inline constexpr int kTokenNormal = 1, kTokenUnknown = 2, kTokenControl = 3, kTokenUserDefined = 4,
                     kTokenUnused = 5, kTokenByte = 6;

/// A loaded model. `tensors` hold float32 weights under canonical names:
///   tok_embeddings [vocab, hidden], norm [hidden], output [vocab, hidden] (absent when tied),
///   layers.{i}.attention_norm [hidden], layers.{i}.attention.wq [n_heads*head_dim, hidden],
///   .wk/.wv [n_kv_heads*head_dim, hidden], .wo [hidden, n_heads*head_dim],
///   layers.{i}.ffn_norm [hidden], layers.{i}.feed_forward.w1 (gate) [intermediate, hidden],
///   .w2 (down) [hidden, intermediate], .w3 (up) [intermediate, hidden];
///   optional rope_freqs [head_dim/2] (GGUF LLaMA-3 files: frequency i is divided by it).
/// Linear weights are [out_features, in_features] row-major. RoPE rotates ADJACENT pairs
/// (2i, 2i+1) within each head (llama2.c, Meta, GGUF); HF checkpoints are permuted on load.
struct LlamaCheckpoint {
  std::string path;
  std::string format;  ///< "gguf", "llama2c-v0", "llama2c-v1", "llama2c-v2", "safetensors"
  LlamaHParams hparams;
  std::map<std::string, Tensor> tensors;
  std::optional<TokenizerData> tokenizer;

  /// \throws FormatError when absent.
  Tensor const& tensor(std::string const& name) const {
    auto it = tensors.find(name);
    DFROT_THROW_IF(it == tensors.end(), FormatError, "checkpoint '", path, "': tensor '", name,
                   "' is missing");
    return it->second;
  }
};

/// The canonical name of a per-layer tensor, e.g. layer_tensor_name(3, "attention.wq").
inline std::string layer_tensor_name(std::size_t layer, std::string_view field) {
  return str_cat("layers.", layer, ".", field);
}

/// Every tensor a model with `hp` must have, with its shape (rope_freqs excluded).
inline std::map<std::string, std::vector<std::size_t>> expected_llama_tensors(
    LlamaHParams const& hp) {
  std::map<std::string, std::vector<std::size_t>> out;
  std::size_t const q = hp.n_heads * hp.head_dim, kv = hp.n_kv_heads * hp.head_dim;
  out["tok_embeddings"] = {hp.vocab, hp.hidden};
  out["norm"] = {hp.hidden};
  if (!hp.tied_embeddings) out["output"] = {hp.vocab, hp.hidden};
  for (std::size_t l = 0; l < hp.n_layers; ++l) {
    out[layer_tensor_name(l, "attention_norm")] = {hp.hidden};
    out[layer_tensor_name(l, "attention.wq")] = {q, hp.hidden};
    out[layer_tensor_name(l, "attention.wk")] = {kv, hp.hidden};
    out[layer_tensor_name(l, "attention.wv")] = {kv, hp.hidden};
    out[layer_tensor_name(l, "attention.wo")] = {hp.hidden, q};
    out[layer_tensor_name(l, "ffn_norm")] = {hp.hidden};
    out[layer_tensor_name(l, "feed_forward.w1")] = {hp.intermediate, hp.hidden};
    out[layer_tensor_name(l, "feed_forward.w2")] = {hp.hidden, hp.intermediate};
    out[layer_tensor_name(l, "feed_forward.w3")] = {hp.intermediate, hp.hidden};
  }
  return out;
}

namespace detail {

inline std::string shape_str(std::vector<std::size_t> const& s) {
  std::ostringstream o;
  o << '[';
  for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ']';
  return o.str();
}

inline void validate_hparams(LlamaHParams const& hp, std::string const& where) {
  auto fail = [&](auto&&... parts) { throw FormatError(str_cat(where, ": ", parts...)); };
  if (hp.hidden == 0 || hp.n_layers == 0 || hp.n_heads == 0 || hp.n_kv_heads == 0 ||
      hp.head_dim == 0 || hp.intermediate == 0 || hp.vocab == 0) {
    fail("hyper-parameters incomplete (hidden ", hp.hidden, ", layers ", hp.n_layers, ", heads ",
         hp.n_heads, ", kv heads ", hp.n_kv_heads, ", head_dim ", hp.head_dim, ", intermediate ",
         hp.intermediate, ", vocab ", hp.vocab, ")");
  }
  if (hp.hidden > (1u << 20) || hp.n_layers > 4096 || hp.n_heads > 4096 || hp.head_dim > 4096 ||
      hp.intermediate > (1u << 22) || hp.vocab > (1u << 24)) {
    fail("implausible hyper-parameters (hidden ", hp.hidden, ", layers ", hp.n_layers, ", heads ",
         hp.n_heads, ", head_dim ", hp.head_dim, ", intermediate ", hp.intermediate, ", vocab ",
         hp.vocab, "; corrupt file?)");
  }
  if (hp.n_heads % hp.n_kv_heads != 0) {
    fail("n_heads ", hp.n_heads, " is not a multiple of n_kv_heads ", hp.n_kv_heads);
  }
  if (hp.head_dim % 2 != 0) fail("head_dim ", hp.head_dim, " is odd (RoPE needs pairs)");
  if (!(hp.rope_theta > 0) || !(hp.norm_eps > 0) || !std::isfinite(hp.rope_theta) ||
      !std::isfinite(hp.norm_eps)) {
    fail("rope_theta ", hp.rope_theta, " and norm_eps ", hp.norm_eps,
         " must be positive and finite");
  }
  if (hp.rope_scaling != RopeScalingType::kNone && !(hp.rope_factor > 0)) {
    fail("rope scaling factor ", hp.rope_factor, " must be positive");
  }
}

inline void check_finite(Tensor const& t, std::string const& name, std::string const& where) {
  for (std::size_t i = 0; i < t.data.size(); ++i) {
    if (!std::isfinite(t.data[i])) {
      throw FormatError(str_cat(where, ": tensor '", name, "' holds a non-finite value (",
                                t.data[i], ") at flat index ", i));
    }
  }
}

}  // namespace detail

/// Checks that a tokenizer fits a vocabulary of `vocab` rows (counts, special ids).
/// \throws FormatError naming `where`.
inline void validate_tokenizer(TokenizerData const& tk, std::size_t vocab, std::string const& where) {
  std::size_t const n = tk.tokens.size();
  DFROT_THROW_IF(n == 0 || n > vocab, FormatError, where, ": tokenizer has ", n,
                 " tokens but the model's vocabulary is ", vocab);
  DFROT_THROW_IF(!tk.scores.empty() && tk.scores.size() != n, FormatError, where,
                 ": tokenizer has ", tk.scores.size(), " scores for ", n, " tokens");
  DFROT_THROW_IF(tk.token_types.size() != n, FormatError, where, ": tokenizer has ",
                 tk.token_types.size(), " token types for ", n, " tokens");
  for (int id : {tk.bos_id, tk.eos_id, tk.unk_id}) {
    DFROT_THROW_IF(id < -1 || id >= static_cast<int>(n), FormatError, where,
                   ": special token id ", id, " is outside the vocabulary of ", n);
  }
}

/// Checks hyper-parameters, the presence and shape of every tensor, the absence of unknown
/// tensors, finite weights and tokenizer consistency.
/// \throws FormatError naming the checkpoint, the tensor and the problem.
inline void validate_llama_checkpoint(LlamaCheckpoint const& ck) {
  std::string const where = str_cat(ck.format, " '", ck.path, "'");
  LlamaHParams const& hp = ck.hparams;
  detail::validate_hparams(hp, where);
  auto const expected = expected_llama_tensors(hp);
  for (auto const& [name, shape] : expected) {
    auto it = ck.tensors.find(name);
    DFROT_THROW_IF(it == ck.tensors.end(), FormatError, where, ": tensor '", name, "' is missing");
    DFROT_THROW_IF(it->second.shape != shape, FormatError, where, ": tensor '", name,
                   "' has shape ", detail::shape_str(it->second.shape), ", expected ",
                   detail::shape_str(shape), " from the hyper-parameters");
    DFROT_THROW_IF(it->second.data.size() != it->second.numel(), FormatError, where, ": tensor '",
                   name, "' holds ", it->second.data.size(), " values for shape ",
                   detail::shape_str(shape));
  }
  for (auto const& [name, t] : ck.tensors) {
    if (expected.count(name) != 0) continue;
    if (name == "rope_freqs") {
      DFROT_THROW_IF(t.numel() != hp.head_dim / 2 || t.data.size() != t.numel(), FormatError, where,
                     ": tensor 'rope_freqs' has ", t.data.size(), " values, expected ",
                     hp.head_dim / 2);
      continue;
    }
    throw FormatError(str_cat(where, ": unexpected tensor '", name,
                              hp.tied_embeddings && name == "output"
                                  ? "' (embeddings are tied)"
                                  : "' (not part of a llama model)"));
  }
  for (auto const& [name, t] : ck.tensors) detail::check_finite(t, name, where);
  if (ck.tokenizer) validate_tokenizer(*ck.tokenizer, hp.vocab, where);
}

// ------------------------------------------------------------------------------------------------
// GGUF
// ------------------------------------------------------------------------------------------------

/// Canonical name of a GGUF llama tensor name ("blk.3.attn_q.weight" -> "layers.3.attention.wq"),
/// or "" for a name that is not part of a llama model.
inline std::string canonical_name_from_gguf(std::string_view name) {
  static std::map<std::string, std::string, std::less<>> const kTop = {
      {"token_embd.weight", "tok_embeddings"},
      {"output_norm.weight", "norm"},
      {"output.weight", "output"},
      {"rope_freqs.weight", "rope_freqs"}};
  static std::map<std::string, std::string, std::less<>> const kLayer = {
      {"attn_norm.weight", "attention_norm"}, {"attn_q.weight", "attention.wq"},
      {"attn_k.weight", "attention.wk"},      {"attn_v.weight", "attention.wv"},
      {"attn_output.weight", "attention.wo"}, {"ffn_norm.weight", "ffn_norm"},
      {"ffn_gate.weight", "feed_forward.w1"}, {"ffn_down.weight", "feed_forward.w2"},
      {"ffn_up.weight", "feed_forward.w3"}};
  if (auto it = kTop.find(name); it != kTop.end()) return it->second;
  constexpr std::string_view kPrefix = "blk.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return {};
  std::string_view rest = name.substr(kPrefix.size());
  std::size_t const dot = rest.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot > 6) return {};
  std::size_t layer = 0;
  for (char ch : rest.substr(0, dot)) {
    if (ch < '0' || ch > '9') return {};
    layer = layer * 10 + static_cast<std::size_t>(ch - '0');
  }
  auto it = kLayer.find(rest.substr(dot + 1));
  if (it == kLayer.end()) return {};
  return layer_tensor_name(layer, it->second);
}

/// Tokenizer data from GGUF tokenizer.ggml.* keys; nullopt when the file has no vocabulary or a
/// tokenizer model other than "llama" (SentencePiece BPE) or "gpt2" (byte-level BPE).
inline std::optional<TokenizerData> tokenizer_from_gguf(GgufFile const& f) {
  if (!f.contains("tokenizer.ggml.model") || !f.contains("tokenizer.ggml.tokens"))
    return std::nullopt;
  std::string const model = f.get_string("tokenizer.ggml.model");
  TokenizerData tk;
  if (model == "llama") {
    tk.kind = TokenizerData::Kind::kSentencePieceBpe;
  } else if (model == "gpt2") {
    tk.kind = TokenizerData::Kind::kByteLevelBpe;
  } else {
    return std::nullopt;
  }
  bool const spm = tk.kind == TokenizerData::Kind::kSentencePieceBpe;
  tk.tokens = f.get_string_array("tokenizer.ggml.tokens");
  std::size_t const n = tk.tokens.size();
  if (f.contains("tokenizer.ggml.scores")) {
    for (double s : f.get_float_array("tokenizer.ggml.scores"))
      tk.scores.push_back(static_cast<float>(s));
    DFROT_THROW_IF(tk.scores.size() != n, FormatError, f.where(), ": tokenizer.ggml.scores has ",
                   tk.scores.size(), " entries for ", n, " tokens");
  }
  if (f.contains("tokenizer.ggml.token_type")) {
    for (std::int64_t t : f.get_int_array("tokenizer.ggml.token_type"))
      tk.token_types.push_back(static_cast<int>(t));
    DFROT_THROW_IF(tk.token_types.size() != n, FormatError, f.where(),
                   ": tokenizer.ggml.token_type has ", tk.token_types.size(), " entries for ", n,
                   " tokens");
  } else {
    tk.token_types.assign(n, kTokenNormal);
  }
  if (f.contains("tokenizer.ggml.merges")) tk.merges = f.get_string_array("tokenizer.ggml.merges");
  DFROT_THROW_IF(!spm && tk.merges.empty(), FormatError, f.where(),
                 ": byte-level BPE vocabulary without tokenizer.ggml.merges");
  tk.pre = f.get_string_or("tokenizer.ggml.pre", "default");
  auto id_or = [&](char const* key, int def) {
    if (!f.contains(key)) return def;
    std::int64_t const v = f.get_int(key);
    DFROT_THROW_IF(v < -1 || v >= static_cast<std::int64_t>(n), FormatError, f.where(), ": ", key,
                   " = ", v, " is outside the vocabulary of ", n, " tokens");
    return static_cast<int>(v);
  };
  tk.bos_id = id_or("tokenizer.ggml.bos_token_id", spm ? 1 : -1);
  tk.eos_id = id_or("tokenizer.ggml.eos_token_id", spm ? 2 : -1);
  tk.unk_id = id_or("tokenizer.ggml.unknown_token_id", spm ? 0 : -1);
  tk.add_bos = f.get_bool_or("tokenizer.ggml.add_bos_token", spm);
  tk.add_space_prefix = f.get_bool_or("tokenizer.ggml.add_space_prefix", spm);
  return tk;
}

/// Loads a llama-family GGUF file (all supported tensor types dequantized to float).
/// An `output.weight` bit-identical to `token_embd.weight` (llama2.c converters write one) is
/// dropped and the embeddings reported as tied.
/// The llama hyper-parameters of a GGUF file (general.architecture llama or mistral); the
/// vocabulary size falls back to token_embd.weight's rows.
/// \throws FormatError for another architecture or inconsistent keys.
inline LlamaHParams gguf_llama_hparams(GgufFile const& f) {
  LlamaHParams hp;
  hp.architecture = f.get_string("general.architecture");
  DFROT_THROW_IF(hp.architecture != "llama" && hp.architecture != "mistral", FormatError, f.where(),
                 ": unsupported architecture '", hp.architecture,
                 "' (dfrot runs llama-family models: llama, mistral)");
  std::string const a = hp.architecture + ".";
  hp.hidden = f.get_uint(a + "embedding_length");
  hp.n_layers = f.get_uint(a + "block_count");
  hp.n_heads = f.get_uint(a + "attention.head_count");
  hp.n_kv_heads = f.get_uint_or(a + "attention.head_count_kv", hp.n_heads);
  hp.intermediate = f.get_uint(a + "feed_forward_length");
  hp.max_seq_len = f.get_uint_or(a + "context_length", 0);
  hp.head_dim = f.get_uint_or(a + "attention.key_length", hp.n_heads ? hp.hidden / hp.n_heads : 0);
  DFROT_THROW_IF(f.get_uint_or(a + "attention.value_length", hp.head_dim) != hp.head_dim,
                 FormatError, f.where(),
                 ": attention.value_length differs from key_length (unsupported)");
  DFROT_THROW_IF(f.get_uint_or(a + "rope.dimension_count", hp.head_dim) != hp.head_dim, FormatError,
                 f.where(), ": rope.dimension_count ", f.get_uint(a + "rope.dimension_count"),
                 " differs from head_dim ", hp.head_dim, " (partial RoPE is unsupported)");
  hp.rope_theta = f.get_float_or(a + "rope.freq_base", 10000.0);
  hp.norm_eps = f.get_float_or(a + "attention.layer_norm_rms_epsilon", 1e-5);
  std::string const scaling = f.get_string_or(a + "rope.scaling.type", "none");
  if (scaling == "linear") {
    hp.rope_scaling = RopeScalingType::kLinear;
    hp.rope_factor = f.get_float(a + "rope.scaling.factor");
  } else if (scaling != "none") {
    throw FormatError(str_cat(f.where(), ": rope scaling '", scaling, "' is not supported"));
  } else if (f.contains(a + "rope.scale_linear")) {
    hp.rope_factor = f.get_float(a + "rope.scale_linear");
    if (hp.rope_factor != 1.0) hp.rope_scaling = RopeScalingType::kLinear;
  }
  hp.rope_original_max_pos = f.get_uint_or(a + "rope.scaling.original_context_length", 0);

  if (f.contains(a + "vocab_size")) {  // (dfrot's Q8 files store the embeddings as .codes)
    hp.vocab = f.get_uint(a + "vocab_size");
  } else {
    GgufTensorInfo const& embd = f.tensor("token_embd.weight");
    DFROT_THROW_IF(embd.dims.size() != 2, FormatError, f.where(), ": tensor 'token_embd.weight' has ",
                   embd.dims.size(), " dimensions, expected 2");
    hp.vocab = embd.dims[1];
  }

  return hp;
}

inline LlamaCheckpoint load_llama_gguf(std::filesystem::path const& path) {
  GgufFile f(path);
  LlamaCheckpoint ck;
  ck.path = path.string();
  ck.format = "gguf";
  ck.hparams = gguf_llama_hparams(f);
  LlamaHParams& hp = ck.hparams;
  for (GgufTensorInfo const& t : f.tensors()) {
    std::string const name = canonical_name_from_gguf(t.name);
    DFROT_THROW_IF(name.empty(), FormatError, f.where(), ": unexpected tensor '", t.name,
                   "' (not part of a llama model)");
    Tensor out;
    out.shape = t.shape();
    out.data = f.read_f32(t);
    ck.tensors.emplace(name, std::move(out));
  }
  auto out_it = ck.tensors.find("output");
  if (out_it == ck.tensors.end()) {
    hp.tied_embeddings = true;
  } else {
    Tensor const& e = ck.tensors.at("tok_embeddings");
    if (out_it->second.shape == e.shape && std::memcmp(out_it->second.data.data(), e.data.data(),
                                                       e.data.size() * sizeof(float)) == 0) {
      hp.tied_embeddings = true;
      ck.tensors.erase(out_it);
    }
  }
  ck.tokenizer = tokenizer_from_gguf(f);
  if (ck.tokenizer) {
    hp.bos_id = ck.tokenizer->bos_id;
    hp.eos_id = ck.tokenizer->eos_id;
  }
  validate_llama_checkpoint(ck);
  return ck;
}

// ------------------------------------------------------------------------------------------------
// llama2.c
// ------------------------------------------------------------------------------------------------

/// Tokenizer data from a llama2.c tokenizer.bin: spaces become U+2581 again (llama2.c's exporter
/// replaced them), "<unk>" is the unknown token, "<s>"/"</s>" (stored as "\n<s>\n", "\n</s>\n")
/// are control tokens, "<0xXX>" pieces are byte tokens.
inline TokenizerData tokenizer_from_llama2c(Llama2cVocab const& v) {
  TokenizerData tk;
  tk.kind = TokenizerData::Kind::kSentencePieceBpe;
  tk.scores = v.scores;
  tk.pre = "default";
  tk.add_bos = true;
  tk.add_space_prefix = true;
  for (std::size_t i = 0; i < v.pieces.size(); ++i) {
    std::string p = v.pieces[i];
    std::string trimmed = p;
    while (!trimmed.empty() && trimmed.front() == '\n') trimmed.erase(trimmed.begin());
    while (!trimmed.empty() && trimmed.back() == '\n') trimmed.pop_back();
    int type = kTokenNormal;
    int const id = static_cast<int>(i);
    if (trimmed == "<unk>") {
      type = kTokenUnknown;
      p = trimmed;
      if (tk.unk_id < 0) tk.unk_id = id;
    } else if (trimmed == "<s>" || trimmed == "</s>") {
      type = kTokenControl;
      p = trimmed;
      if (trimmed == "<s>" && tk.bos_id < 0) tk.bos_id = id;
      if (trimmed == "</s>" && tk.eos_id < 0) tk.eos_id = id;
    } else if (p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>' &&
               std::isxdigit(static_cast<unsigned char>(p[3])) &&
               std::isxdigit(static_cast<unsigned char>(p[4]))) {
      type = kTokenByte;
    } else {
      std::string spm;
      for (char ch : p) {
        if (ch == ' ') {
          spm += "\xE2\x96\x81";
        } else {
          spm += ch;
        }
      }
      p = std::move(spm);
    }
    tk.tokens.push_back(std::move(p));
    tk.token_types.push_back(type);
  }
  return tk;
}

/// The tokenizer.bin that belongs to a llama2.c checkpoint: `tok<vocab>.bin` or `tokenizer.bin`
/// next to it, holding exactly `vocab` tokens; empty when there is none.
/// \throws FormatError when a candidate file exists but is malformed.
inline std::filesystem::path find_llama2c_tokenizer(std::filesystem::path const& model,
                                                    std::size_t vocab) {
  std::filesystem::path const dir = model.parent_path();
  for (std::string const& name : {str_cat("tok", vocab, ".bin"), std::string("tokenizer.bin")}) {
    std::filesystem::path const p = dir / name;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(p, ec)) continue;
    if (read_llama2c_tokenizer(p).pieces.size() == vocab) return p;  // else: another model's
  }
  return {};
}

/// Loads a llama2.c checkpoint (v0/v1/v2). The tokenizer comes from `tokenizer_path` if given,
/// else from find_llama2c_tokenizer() (none: tokenizer stays empty). llama2.c fixes RoPE theta
/// 10000, RMSNorm eps 1e-5, BOS 1, EOS 2.
inline LlamaCheckpoint load_llama_llama2c(std::filesystem::path const& path,
                                          std::filesystem::path tokenizer_path = {}) {
  Llama2cCheckpoint raw = read_llama2c(path);
  Llama2cConfig const& c = raw.config;
  LlamaCheckpoint ck;
  ck.path = path.string();
  ck.format = str_cat("llama2c-v", c.version);
  LlamaHParams& hp = ck.hparams;
  hp.architecture = "llama";
  hp.hidden = c.dim;
  hp.n_layers = c.n_layers;
  hp.n_heads = c.n_heads;
  hp.n_kv_heads = c.n_kv_heads;
  hp.head_dim = c.head_dim();
  hp.intermediate = c.hidden_dim;
  hp.vocab = c.vocab_size;
  hp.max_seq_len = c.seq_len;
  hp.tied_embeddings = c.shared_classifier;
  hp.bos_id = 1;
  hp.eos_id = 2;
  for (auto& [name, t] : raw.tensors) ck.tensors.emplace(name, std::move(t));
  if (tokenizer_path.empty()) tokenizer_path = find_llama2c_tokenizer(path, c.vocab_size);
  if (!tokenizer_path.empty()) {
    ck.tokenizer = tokenizer_from_llama2c(read_llama2c_tokenizer(tokenizer_path, c.vocab_size));
    hp.bos_id = ck.tokenizer->bos_id;
    hp.eos_id = ck.tokenizer->eos_id;
  }
  validate_llama_checkpoint(ck);
  return ck;
}

// ------------------------------------------------------------------------------------------------
// Hugging Face (config.json + safetensors)
// ------------------------------------------------------------------------------------------------

/// Undoes the rotate-half row order of Hugging Face q_proj/k_proj weights.
///
/// Meta's checkpoints (and llama2.c, GGUF) pair rows (2i, 2i+1) of each head for RoPE. HF's
/// converter reorders each head's rows so that RoPE pairs row i with row i + head_dim/2
/// ("rotate half"): HF row h*hd + p*hd/2 + i holds Meta row h*hd + 2i + p (p in {0,1},
/// i < hd/2). This function applies the inverse:
///   adjacent[h*hd + 2i + p][:] = hf[h*hd + p*hd/2 + i][:].
/// \param hf [n_heads*head_dim, cols] row-major.  \returns the same shape, adjacent-pair order.
inline std::vector<float> permute_rotate_half_to_adjacent(std::span<float const> hf,
                                                          std::size_t n_heads, std::size_t head_dim,
                                                          std::size_t cols) {
  DFROT_THROW_IF(hf.size() != n_heads * head_dim * cols || head_dim % 2 != 0, ShapeError,
                 "permute_rotate_half_to_adjacent: ", hf.size(), " values for ", n_heads,
                 " heads x ", head_dim, " x ", cols, " (head_dim must be even)");
  std::vector<float> out(hf.size());
  std::size_t const half = head_dim / 2;
  for (std::size_t h = 0; h < n_heads; ++h) {
    for (std::size_t i = 0; i < half; ++i) {
      for (std::size_t p = 0; p < 2; ++p) {
        float const* src = hf.data() + (h * head_dim + p * half + i) * cols;
        float* dst = out.data() + (h * head_dim + 2 * i + p) * cols;
        std::copy(src, src + cols, dst);
      }
    }
  }
  return out;
}

namespace detail {

/// A JSON file of the checkpoint: regular file, size-capped, depth-limited (io/file_read.hpp).
inline nlohmann::json read_json_file(std::filesystem::path const& p) {
  return io::read_json_file(p, "json");
}

inline std::size_t json_size(nlohmann::json const& cfg, char const* key, std::string const& where,
                             std::optional<std::size_t> def = std::nullopt) {
  if (!cfg.contains(key) || cfg[key].is_null()) {
    DFROT_THROW_IF(!def, FormatError, where, ": key '", key, "' is missing");
    return *def;
  }
  DFROT_THROW_IF(!cfg[key].is_number_unsigned(), FormatError, where, ": key '", key,
                 "' is not a non-negative integer");
  return cfg[key].get<std::size_t>();
}

inline double json_number(nlohmann::json const& cfg, char const* key, double def,
                          std::string const& where) {
  if (!cfg.contains(key) || cfg[key].is_null()) return def;
  DFROT_THROW_IF(!cfg[key].is_number(), FormatError, where, ": key '", key, "' is not a number");
  return cfg[key].get<double>();
}

inline int json_token_id(nlohmann::json const& cfg, char const* key) {
  if (!cfg.contains(key)) return -1;
  nlohmann::json v = cfg[key];
  if (v.is_array() && !v.empty()) v = v[0];  // eos_token_id may be a list
  return v.is_number_integer() ? v.get<int>() : -1;
}

}  // namespace detail

/// Hyper-parameters from a Hugging Face config.json (llama / mistral model_type).
namespace detail {
inline LlamaHParams hparams_from_hf_config_unchecked(nlohmann::json const& cfg, std::string const& where) {
  DFROT_THROW_IF(!cfg.is_object(), FormatError, where, ": not a json object");
  LlamaHParams hp;
  hp.architecture = cfg.value("model_type", std::string());
  if (hp.architecture.empty() && cfg.contains("architectures") && cfg["architectures"].is_array() &&
      !cfg["architectures"].empty() && cfg["architectures"][0].is_string()) {
    std::string const arch = cfg["architectures"][0].get<std::string>();
    if (arch == "LlamaForCausalLM") hp.architecture = "llama";
    if (arch == "MistralForCausalLM") hp.architecture = "mistral";
  }
  DFROT_THROW_IF(hp.architecture != "llama" && hp.architecture != "mistral", FormatError, where,
                 ": unsupported architecture '", hp.architecture,
                 "' (dfrot runs llama-family models: llama, mistral)");
  hp.hidden = detail::json_size(cfg, "hidden_size", where);
  hp.n_layers = detail::json_size(cfg, "num_hidden_layers", where);
  hp.n_heads = detail::json_size(cfg, "num_attention_heads", where);
  hp.n_kv_heads = detail::json_size(cfg, "num_key_value_heads", where, hp.n_heads);
  hp.head_dim = detail::json_size(cfg, "head_dim", where, hp.n_heads ? hp.hidden / hp.n_heads : 0);
  hp.intermediate = detail::json_size(cfg, "intermediate_size", where);
  hp.vocab = detail::json_size(cfg, "vocab_size", where);
  hp.max_seq_len = detail::json_size(cfg, "max_position_embeddings", where, 0);
  hp.rope_theta = detail::json_number(cfg, "rope_theta", 10000.0, where);
  hp.norm_eps = detail::json_number(cfg, "rms_norm_eps", 1e-6, where);
  hp.tied_embeddings = cfg.value("tie_word_embeddings", false);
  hp.bos_id = detail::json_token_id(cfg, "bos_token_id");
  hp.eos_id = detail::json_token_id(cfg, "eos_token_id");
  if (cfg.contains("rope_scaling") && cfg["rope_scaling"].is_object()) {
    nlohmann::json const& rs = cfg["rope_scaling"];
    std::string type = rs.value("rope_type", rs.value("type", std::string()));
    if (type == "linear") {
      hp.rope_scaling = RopeScalingType::kLinear;
    } else if (type == "llama3") {
      hp.rope_scaling = RopeScalingType::kLlama3;
      hp.rope_low_freq_factor = detail::json_number(rs, "low_freq_factor", 1.0, where);
      hp.rope_high_freq_factor = detail::json_number(rs, "high_freq_factor", 4.0, where);
      hp.rope_original_max_pos =
          detail::json_size(rs, "original_max_position_embeddings", where, 0);
    } else if (type != "default" && !type.empty()) {
      throw FormatError(str_cat(where, ": rope_scaling type '", type, "' is not supported"));
    }
    hp.rope_factor = detail::json_number(rs, "factor", 1.0, where);
  }
  return hp;
}
}  // namespace detail

/// HF config.json → hyper-parameters. \throws FormatError naming `where` for missing, out-of-range
/// or wrongly typed fields.
inline LlamaHParams hparams_from_hf_config(nlohmann::json const& cfg, std::string const& where) {
  try {
    return detail::hparams_from_hf_config_unchecked(cfg, where);
  } catch (nlohmann::json::exception const& e) {  // .value()/.get() on a field of another type
    throw FormatError(str_cat(where, ": malformed field: ", e.what()));
  }
}

// Defined in hf_tokenizer.hpp (included at the end of this header).
inline std::optional<TokenizerData> read_hf_tokenizer(std::filesystem::path const& dir);

/// The canonical name of a Hugging Face llama tensor ("model.layers.3.self_attn.q_proj.weight" ->
/// "layers.3.attention.wq"), or "" for a name that is not part of a llama model.
inline std::string canonical_name_from_hf(std::string_view hf) {
  static std::map<std::string, std::string, std::less<>> const kLayer = {
      {"input_layernorm.weight", "attention_norm"},
      {"self_attn.q_proj.weight", "attention.wq"},
      {"self_attn.k_proj.weight", "attention.wk"},
      {"self_attn.v_proj.weight", "attention.wv"},
      {"self_attn.o_proj.weight", "attention.wo"},
      {"post_attention_layernorm.weight", "ffn_norm"},
      {"mlp.gate_proj.weight", "feed_forward.w1"},
      {"mlp.down_proj.weight", "feed_forward.w2"},
      {"mlp.up_proj.weight", "feed_forward.w3"}};
  if (hf == "model.embed_tokens.weight") return "tok_embeddings";
  if (hf == "model.norm.weight") return "norm";
  if (hf == "lm_head.weight") return "output";
  constexpr std::string_view kPrefix = "model.layers.";
  if (hf.compare(0, kPrefix.size(), kPrefix) != 0) return {};
  std::size_t const dot = hf.find('.', kPrefix.size());
  if (dot == std::string::npos || dot == kPrefix.size() || dot - kPrefix.size() > 6) return {};
  std::string const num(hf.substr(kPrefix.size(), dot - kPrefix.size()));
  if (num.find_first_not_of("0123456789") != std::string::npos) return {};
  auto it = kLayer.find(hf.substr(dot + 1));
  if (it == kLayer.end()) return {};
  return layer_tensor_name(std::stoul(num), it->second);
}

/// Whether an HF tensor is a buffer older converters saved that is not a weight (skipped).
inline bool is_hf_buffer(std::string_view hf) {
  return hf.find("rotary_emb.inv_freq") != std::string_view::npos;
}

/// The safetensors files of a Hugging Face checkpoint directory: the shards listed in
/// model.safetensors.index.json, else model.safetensors. \throws FormatError for a malformed
/// index or a shard name that is not a plain file name.
inline std::vector<std::filesystem::path> hf_safetensors_files(std::filesystem::path const& dir) {
  std::vector<std::filesystem::path> files;
  std::filesystem::path const index_path = dir / "model.safetensors.index.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(index_path, ec)) return {dir / "model.safetensors"};
  nlohmann::json const index = io::read_json_file(index_path, "json");
  DFROT_THROW_IF(!index.contains("weight_map") || !index["weight_map"].is_object(), FormatError,
                 "json '", index_path.string(), "': no weight_map object");
  std::set<std::string> names;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    DFROT_THROW_IF(!it.value().is_string(), FormatError, "json '", index_path.string(),
                   "': weight_map entry '", it.key(), "' is not a file name");
    std::string const file = it.value().get<std::string>();
    DFROT_THROW_IF(file.find('/') != std::string::npos || file.find("..") != std::string::npos,
                   FormatError, "json '", index_path.string(), "': shard name '", file,
                   "' must be a plain file name");
    names.insert(file);
  }
  for (auto const& n : names) files.push_back(dir / n);
  return files;
}

/// The hyper-parameters of a Hugging Face checkpoint directory's config.json, validated.
inline LlamaHParams read_hf_hparams(std::filesystem::path const& dir) {
  std::filesystem::path const config_path = dir / "config.json";
  std::string const where = str_cat("config '", config_path.string(), "'");
  LlamaHParams hp = hparams_from_hf_config(detail::read_json_file(config_path), where);
  detail::validate_hparams(hp, where);
  return hp;
}

/// BOS/EOS ids missing on one side (config.json or the tokenizer) are taken from the other.
inline void merge_hf_special_ids(LlamaHParams& hp, std::optional<TokenizerData>& tok) {
  if (!tok) return;
  int const n = static_cast<int>(tok->tokens.size());
  if (tok->bos_id < 0 && hp.bos_id >= 0 && hp.bos_id < n) tok->bos_id = hp.bos_id;
  if (tok->eos_id < 0 && hp.eos_id >= 0 && hp.eos_id < n) tok->eos_id = hp.eos_id;
  if (hp.bos_id < 0) hp.bos_id = tok->bos_id;
  if (hp.eos_id < 0) hp.eos_id = tok->eos_id;
}

/// An HF q_proj/k_proj weight in rotate-half row order, permuted in place to adjacent pairs
/// (a no-op for every other tensor). \throws FormatError for a shape other than [heads*hd, cols].
inline void hf_rows_to_adjacent(std::string const& name, std::string const& hf_name,
                                std::vector<std::size_t> const& shape, std::vector<float>& data,
                                LlamaHParams const& hp, std::string const& where) {
  bool const is_q = name.size() > 12 && name.ends_with("attention.wq");
  bool const is_k = name.size() > 12 && name.ends_with("attention.wk");
  if (!is_q && !is_k) return;
  std::size_t const heads = is_q ? hp.n_heads : hp.n_kv_heads;
  DFROT_THROW_IF(shape.size() != 2 || shape[0] != heads * hp.head_dim, FormatError, where,
                 ": tensor '", hf_name, "' has shape ", detail::shape_str(shape), ", expected [",
                 heads * hp.head_dim, ", ", hp.hidden, "]");
  data = permute_rotate_half_to_adjacent(data, heads, hp.head_dim, shape[1]);
}

/// The directory of the Hugging Face checkpoint `path` names — the directory itself, or its
/// config.json, a *.safetensors shard or model.safetensors.index.json — or empty when it names none
/// (or nothing that exists).
inline std::filesystem::path hf_checkpoint_dir(std::filesystem::path const& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return path;
  if (!std::filesystem::exists(path, ec)) return {};
  if (path.filename() == "config.json" || path.extension() == ".safetensors" ||
      path.filename() == "model.safetensors.index.json") {
    return path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  }
  return {};
}

/// Loads a Hugging Face checkpoint directory: config.json + model.safetensors, or the shards
/// listed in model.safetensors.index.json. q_proj/k_proj rows are permuted back to adjacent-pair
/// RoPE order (permute_rotate_half_to_adjacent). The tokenizer comes from tokenizer.json (+
/// tokenizer_config.json) when present and supported (read_hf_tokenizer, hf_tokenizer.hpp);
/// BOS/EOS ids missing on one side are taken from the other (merge_hf_special_ids).
inline LlamaCheckpoint load_llama_hf(std::filesystem::path const& dir) {
  LlamaCheckpoint ck;
  ck.path = dir.string();
  ck.format = "safetensors";
  ck.hparams = read_hf_hparams(dir);
  LlamaHParams& hp = ck.hparams;
  for (auto const& file : hf_safetensors_files(dir)) {
    SafetensorsFile st(file);
    for (SafetensorsTensorInfo const& info : st.tensors()) {
      if (is_hf_buffer(info.name)) continue;
      std::string const name = canonical_name_from_hf(info.name);
      DFROT_THROW_IF(name.empty(), FormatError, st.where(), ": unexpected tensor '", info.name,
                     "' (not part of a llama model)");
      if (name == "output" && hp.tied_embeddings) continue;  // saved although tied
      DFROT_THROW_IF(ck.tensors.count(name) != 0, FormatError, st.where(), ": tensor '", info.name,
                     "' appears in more than one shard");
      Tensor t;
      t.shape = info.shape;
      t.data = st.read_f32(info);
      hf_rows_to_adjacent(name, info.name, t.shape, t.data, hp, st.where());
      ck.tensors.emplace(name, std::move(t));
    }
  }
  ck.tokenizer = read_hf_tokenizer(dir);
  merge_hf_special_ids(hp, ck.tokenizer);
  validate_llama_checkpoint(ck);
  return ck;
}

// ------------------------------------------------------------------------------------------------
// Auto-detection
// ------------------------------------------------------------------------------------------------

namespace detail {
inline LlamaCheckpoint load_llama_checkpoint_unchecked(std::filesystem::path const& path) {
  std::error_code ec;
  if (std::filesystem::path const dir = hf_checkpoint_dir(path); !dir.empty()) {
    DFROT_THROW_IF(!std::filesystem::is_regular_file(dir / "config.json", ec), FormatError,
                   "checkpoint '", dir.string(), "': directory without config.json");
    return load_llama_hf(dir);
  }
  DFROT_THROW_IF(!std::filesystem::exists(path, ec), IoError, "cannot open '", path.string(),
                 "': no such file or directory");
  std::uint32_t magic = 0;
  require_regular_file(path, "checkpoint");  // before opening: a FIFO would block in open()
  {
    std::ifstream in(path, std::ios::binary);
    DFROT_THROW_IF(!in, IoError, "cannot open '", path.string(), "'");
    in.read(reinterpret_cast<char*>(&magic), sizeof magic);
    DFROT_THROW_IF(in.gcount() != sizeof magic, FormatError, "checkpoint '", path.string(),
                   "': only ", in.gcount(), " bytes (not a GGUF, llama2.c or HF checkpoint)");
  }
  if (magic == GgufFile::kMagic) return load_llama_gguf(path);
  return load_llama_llama2c(path);
}
}  // namespace detail

/// Loads a LLaMA-family checkpoint, detecting the format: a directory (or its config.json /
/// *.safetensors file) -> Hugging Face; "GGUF" magic -> GGUF; "ak42" magic or a header consistent
/// with the file size -> llama2.c.
/// \throws IoError when unreadable; FormatError naming the file, tensor and problem otherwise (a
/// JSON field of the wrong type included).
inline LlamaCheckpoint load_llama_checkpoint(std::filesystem::path const& path) {
  try {
    return detail::load_llama_checkpoint_unchecked(path);
  } catch (nlohmann::json::exception const& e) {
    throw FormatError(str_cat("checkpoint '", path.string(), "': malformed json field: ", e.what()));
  }
}

}  // namespace dfrot::io

#include "dfrot/io/hf_tokenizer.hpp"  // IWYU pragma: export (read_hf_tokenizer)
