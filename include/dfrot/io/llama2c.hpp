// SPDX-License-Identifier: Apache-2.0
// llama2.c checkpoints (legacy v0, v1 "ak42" fp32, v2 "ak42" int8 groups) and tokenizer.bin files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/byte_reader.hpp"
#include "dfrot/io/mapped_file.hpp"
#include "dfrot/io/tensor.hpp"

namespace dfrot::io {

/// Hyper-parameters stored in a llama2.c checkpoint header.
struct Llama2cConfig {
  int version = 0;  ///< 0 (legacy, 7 int32 header), 1 (fp32) or 2 (int8 + fp32 scale groups)
  std::size_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0;
  std::size_t vocab_size = 0, seq_len = 0;
  bool shared_classifier = true;  ///< tied embeddings (v0: vocab_size stored positive)
  std::size_t group_size = 0;     ///< v2 only
  std::size_t head_dim() const noexcept { return n_heads != 0 ? dim / n_heads : 0; }
};

/// A llama2.c checkpoint converted to dfrot's canonical names (see llama_checkpoint.hpp):
/// tok_embeddings, norm, output (untied only), layers.{i}.attention_norm, .attention.w{q,k,v,o},
/// .ffn_norm, .feed_forward.w{1,2,3}. llama2.c stores linear weights [out, in] and RoPE on
/// adjacent pairs, which is already the canonical layout.
struct Llama2cCheckpoint {
  Llama2cConfig config;
  std::vector<std::pair<std::string, Tensor>> tensors;
};

/// Magic of v1/v2 headers: the bytes "24ka" read as a little-endian uint32 (0x616b3432).
inline constexpr std::uint32_t kLlama2cMagic = 0x616b3432u;
inline constexpr std::size_t kLlama2cHeaderBytes = 256;  // v1/v2 header, zero padded

namespace detail {

inline void validate_llama2c_config(Llama2cConfig const& c, ByteReader const& r) {
  auto bad = [&](auto&&... parts) { r.fail("header: ", parts...); };
  constexpr std::size_t kMax = std::size_t{1} << 20;
  if (c.dim == 0 || c.hidden_dim == 0 || c.n_layers == 0 || c.n_heads == 0 || c.n_kv_heads == 0 ||
      c.vocab_size == 0 || c.seq_len == 0) {
    bad("a size is zero or negative (dim ", c.dim, ", hidden_dim ", c.hidden_dim, ", n_layers ",
        c.n_layers, ", n_heads ", c.n_heads, ", n_kv_heads ", c.n_kv_heads, ", vocab_size ",
        c.vocab_size, ", seq_len ", c.seq_len, ")");
  }
  if (c.dim > kMax || c.hidden_dim > kMax || c.n_layers > 4096 || c.n_heads > c.dim ||
      c.vocab_size > kMax || c.seq_len > kMax) {
    bad("implausible sizes (dim ", c.dim, ", hidden_dim ", c.hidden_dim, ", n_layers ", c.n_layers,
        ", vocab_size ", c.vocab_size, ", seq_len ", c.seq_len, "; not a llama2.c checkpoint?)");
  }
  if (c.dim % c.n_heads != 0) bad("dim ", c.dim, " is not a multiple of n_heads ", c.n_heads);
  if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0) {
    bad("n_heads ", c.n_heads, " is not a multiple of n_kv_heads ", c.n_kv_heads);
  }
  if (c.head_dim() % 2 != 0) bad("head dimension ", c.head_dim(), " is odd (RoPE needs pairs)");
}

inline std::size_t to_size(std::int32_t v) { return v > 0 ? static_cast<std::size_t>(v) : 0; }

// Canonical (name, shape) list in the order a v0/v1 file stores them, given a per-layer-type
// grouping. `kind` 0 = v0 order, 1 = v1/v2 order.
struct Llama2cEntry {
  std::string name;
  std::vector<std::size_t> shape;
};

inline std::vector<Llama2cEntry> llama2c_layer_entries(Llama2cConfig const& c, char const* field,
                                                       std::vector<std::size_t> shape) {
  std::vector<Llama2cEntry> out;
  for (std::size_t l = 0; l < c.n_layers; ++l) {
    out.push_back({"layers." + std::to_string(l) + "." + field, shape});
  }
  return out;
}

inline void append(std::vector<Llama2cEntry>& dst, std::vector<Llama2cEntry> src) {
  for (auto& e : src) dst.push_back(std::move(e));
}

// The linear weights of every layer in file order: wq (all layers), wk, wv, wo, w1, w2, w3.
inline std::vector<Llama2cEntry> llama2c_linear_entries(Llama2cConfig const& c) {
  std::size_t const hd = c.head_dim();
  std::vector<Llama2cEntry> out;
  append(out, llama2c_layer_entries(c, "attention.wq", {c.n_heads * hd, c.dim}));
  append(out, llama2c_layer_entries(c, "attention.wk", {c.n_kv_heads * hd, c.dim}));
  append(out, llama2c_layer_entries(c, "attention.wv", {c.n_kv_heads * hd, c.dim}));
  append(out, llama2c_layer_entries(c, "attention.wo", {c.dim, c.n_heads * hd}));
  append(out, llama2c_layer_entries(c, "feed_forward.w1", {c.hidden_dim, c.dim}));
  append(out, llama2c_layer_entries(c, "feed_forward.w2", {c.dim, c.hidden_dim}));
  append(out, llama2c_layer_entries(c, "feed_forward.w3", {c.hidden_dim, c.dim}));
  return out;
}

inline std::size_t numel(std::vector<std::size_t> const& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

inline Tensor read_f32_tensor(ByteReader& r, std::vector<std::size_t> shape,
                              std::string const& name) {
  Tensor t;
  t.shape = std::move(shape);
  std::size_t const n = numel(t.shape);
  auto bytes = r.read_bytes(n * sizeof(float), "tensor '" + name + "'");
  t.data.resize(n);
  if (n != 0) std::memcpy(t.data.data(), bytes.data(), bytes.size());
  return t;
}

}  // namespace detail

/// Reads a llama2.c checkpoint (v0, v1 or v2), converting every tensor to float.
/// \throws IoError if unreadable; FormatError naming the file and field/tensor when the header is
/// inconsistent or the size does not match what the header implies.
inline Llama2cCheckpoint read_llama2c(std::filesystem::path const& path) {
  MappedFile file(path);
  ByteReader r(file.bytes(), str_cat("llama2.c '", path.string(), "'"));
  Llama2cCheckpoint out;
  Llama2cConfig& c = out.config;
  std::uint32_t const first = r.read<std::uint32_t>("header");
  if (first == kLlama2cMagic) {
    auto const version = r.read<std::int32_t>("version");
    if (version != 1 && version != 2)
      r.fail("unsupported llama2.c version ", version, " (supported: 0, 1, 2)");
    c.version = version;
  } else {
    r.seek(0, "header");
  }
  std::int32_t h[7];
  for (auto& v : h) v = r.read<std::int32_t>("header");
  c.dim = detail::to_size(h[0]);
  c.hidden_dim = detail::to_size(h[1]);
  c.n_layers = detail::to_size(h[2]);
  c.n_heads = detail::to_size(h[3]);
  c.n_kv_heads = detail::to_size(h[4]);
  c.vocab_size = detail::to_size(h[5] < 0 ? (h[5] == INT32_MIN ? 0 : -h[5]) : h[5]);
  c.seq_len = detail::to_size(h[6]);
  if (c.version == 0) {
    c.shared_classifier = h[5] > 0;
  } else {
    std::uint8_t const shared = r.read<std::uint8_t>("shared_classifier");
    if (shared > 1) r.fail("header: shared_classifier flag is ", int{shared}, " (expected 0 or 1)");
    c.shared_classifier = shared != 0;
    if (c.version == 2) {
      auto const g = r.read<std::int32_t>("group_size");
      if (g <= 0) r.fail("header: group_size ", g, " must be positive");
      c.group_size = static_cast<std::size_t>(g);
    }
  }
  detail::validate_llama2c_config(c, r);
  std::size_t const hd = c.head_dim();
  using detail::Llama2cEntry;

  if (c.version == 0) {
    // tok_embeddings, attention_norm (all layers), wq..wo, ffn_norm, w1, w2, w3, norm,
    // freq_cis_real/imag (unused, seq_len * head_dim / 2 each), output (untied only).
    std::vector<Llama2cEntry> entries{{"tok_embeddings", {c.vocab_size, c.dim}}};
    detail::append(entries, detail::llama2c_layer_entries(c, "attention_norm", {c.dim}));
    auto linear = detail::llama2c_linear_entries(c);
    std::size_t const per_type = c.n_layers;
    for (std::size_t i = 0; i < 4 * per_type; ++i) entries.push_back(linear[i]);
    detail::append(entries, detail::llama2c_layer_entries(c, "ffn_norm", {c.dim}));
    for (std::size_t i = 4 * per_type; i < linear.size(); ++i) entries.push_back(linear[i]);
    entries.push_back({"norm", {c.dim}});
    entries.push_back({"", {c.seq_len * hd}});  // freq_cis_real + freq_cis_imag (skipped)
    if (!c.shared_classifier) entries.push_back({"output", {c.vocab_size, c.dim}});
    std::size_t total = 0;
    for (auto const& e : entries) total += detail::numel(e.shape) * sizeof(float);
    if (r.remaining() != total) {
      r.fail("the header implies ", r.offset() + total, " bytes but the file has ", r.size(),
             r.remaining() < total ? " (truncated?)" : " (trailing bytes; header inconsistent?)");
    }
    for (auto& e : entries) {
      if (e.name.empty()) {
        r.skip(detail::numel(e.shape) * sizeof(float), "freq_cis");
        continue;
      }
      Tensor t = detail::read_f32_tensor(r, e.shape, e.name);
      out.tensors.emplace_back(e.name, std::move(t));
    }
    return out;
  }

  r.seek(kLlama2cHeaderBytes, "end of header");
  // v1/v2: attention_norm (all layers), ffn_norm (all layers), norm in fp32; then tok_embeddings,
  // wq..w3 (each grouped over layers), output (untied only): fp32 (v1) or int8 + fp32 scales (v2).
  std::vector<Llama2cEntry> norms = detail::llama2c_layer_entries(c, "attention_norm", {c.dim});
  detail::append(norms, detail::llama2c_layer_entries(c, "ffn_norm", {c.dim}));
  norms.push_back({"norm", {c.dim}});
  std::vector<Llama2cEntry> weights{{"tok_embeddings", {c.vocab_size, c.dim}}};
  detail::append(weights, detail::llama2c_linear_entries(c));
  if (!c.shared_classifier) weights.push_back({"output", {c.vocab_size, c.dim}});

  std::size_t total = 0;
  for (auto const& e : norms) total += detail::numel(e.shape) * sizeof(float);
  for (auto const& e : weights) {
    std::size_t const n = detail::numel(e.shape);
    if (c.version == 1) {
      total += n * sizeof(float);
    } else {
      if (n % c.group_size != 0) {
        r.fail("tensor '", e.name, "' has ", n, " elements, not a multiple of group_size ",
               c.group_size);
      }
      total += n + n / c.group_size * sizeof(float);
    }
  }
  if (r.remaining() != total) {
    r.fail("the header implies ", r.offset() + total, " bytes but the file has ", r.size(),
           r.remaining() < total ? " (truncated?)" : " (trailing bytes; header inconsistent?)");
  }
  for (auto& e : norms)
    out.tensors.emplace_back(e.name, detail::read_f32_tensor(r, e.shape, e.name));
  for (auto& e : weights) {
    if (c.version == 1) {
      out.tensors.emplace_back(e.name, detail::read_f32_tensor(r, e.shape, e.name));
      continue;
    }
    std::size_t const n = detail::numel(e.shape);
    auto q = r.read_bytes(n, "int8 values of tensor '" + e.name + "'");
    Tensor s = detail::read_f32_tensor(r, {n / c.group_size}, e.name + " scales");
    Tensor t;
    t.shape = e.shape;
    t.data.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      t.data[i] = static_cast<float>(static_cast<std::int8_t>(q[i])) * s.data[i / c.group_size];
    }
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

/// A llama2.c tokenizer.bin: int32 max_token_length, then per token {float score; int32 len;
/// len bytes}. The vocabulary size is not stored: tokens are read to the end of the file.
struct Llama2cVocab {
  std::size_t max_token_length = 0;
  std::vector<std::string>
      pieces;  ///< as stored (llama2.c writes ' ' where SentencePiece has U+2581)
  std::vector<float> scores;
};

/// Reads a tokenizer.bin. `expected_vocab` > 0 requires exactly that many tokens.
/// \throws IoError / FormatError naming the file, the token index and the problem.
inline Llama2cVocab read_llama2c_tokenizer(std::filesystem::path const& path,
                                           std::size_t expected_vocab = 0) {
  MappedFile file(path);
  ByteReader r(file.bytes(), str_cat("llama2.c tokenizer '", path.string(), "'"));
  Llama2cVocab v;
  auto const max_len = r.read<std::int32_t>("max_token_length");
  if (max_len <= 0 || max_len > (1 << 16)) r.fail("max_token_length ", max_len, " is implausible");
  v.max_token_length = static_cast<std::size_t>(max_len);
  while (r.remaining() > 0) {
    std::size_t const index = v.pieces.size();
    std::string const field = str_cat("token ", index);
    float const score = r.read<float>(field);
    auto const len = r.read<std::int32_t>(field);
    if (len < 0 || static_cast<std::size_t>(len) > v.max_token_length) {
      r.fail(field, " at byte ", r.offset() - 4, ": length ", len, " outside [0, max_token_length ",
             v.max_token_length, "]");
    }
    if (score != score) r.fail(field, ": score is NaN");
    v.pieces.push_back(r.read_string(static_cast<std::size_t>(len), field));
    v.scores.push_back(score);
  }
  if (v.pieces.empty()) r.fail("no tokens");
  if (expected_vocab != 0 && v.pieces.size() != expected_vocab) {
    r.fail("has ", v.pieces.size(), " tokens but the model's vocab_size is ", expected_vocab);
  }
  return v;
}

}  // namespace dfrot::io
