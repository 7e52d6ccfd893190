// SPDX-License-Identifier: Apache-2.0
#include "common/synthetic_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "dfrot/core/dtype.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/format.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/core/rng.hpp"
#include "dfrot/io/gguf_writer.hpp"
#include "dfrot/io/llama_gguf_keys.hpp"

namespace dfrot::app {

namespace {

io::LlamaHParams shape(std::size_t d, std::size_t layers, std::size_t heads, std::size_t kv,
                       std::size_t ff, std::size_t vocab, double theta, std::size_t ctx, bool tied) {
  io::LlamaHParams hp;
  hp.architecture = "llama";
  hp.hidden = d;
  hp.n_layers = layers;
  hp.n_heads = heads;
  hp.n_kv_heads = kv;
  hp.head_dim = d / heads;
  hp.intermediate = ff;
  hp.vocab = vocab;
  hp.rope_theta = theta;
  hp.norm_eps = 1e-5;
  hp.max_seq_len = ctx;
  hp.tied_embeddings = tied;
  return hp;
}

struct Matrix {
  std::string name;
  std::size_t rows, cols;
  bool norm;  ///< a norm scale vector (rows = 1), F32
};

std::vector<Matrix> tensor_list(io::LlamaHParams const& hp) {
  std::size_t const d = hp.hidden, q = hp.n_heads * hp.head_dim, kv = hp.n_kv_heads * hp.head_dim;
  std::vector<Matrix> t = {{"token_embd.weight", hp.vocab, d, false}, {"output_norm.weight", 1, d, true}};
  if (!hp.tied_embeddings) t.push_back({"output.weight", hp.vocab, d, false});
  for (std::size_t l = 0; l < hp.n_layers; ++l) {
    auto n = [&](char const* f) { return str_cat("blk.", l, ".", f, ".weight"); };
    t.push_back({n("attn_norm"), 1, d, true});
    t.push_back({n("attn_q"), q, d, false});
    t.push_back({n("attn_k"), kv, d, false});
    t.push_back({n("attn_v"), kv, d, false});
    t.push_back({n("attn_output"), d, q, false});
    t.push_back({n("ffn_norm"), 1, d, true});
    t.push_back({n("ffn_gate"), hp.intermediate, d, false});
    t.push_back({n("ffn_up"), hp.intermediate, d, false});
    t.push_back({n("ffn_down"), d, hp.intermediate, false});
  }
  return t;
}

void check_type(io::GgmlType type) {
  using io::GgmlType;
  DFROT_THROW_IF(type != GgmlType::kF32 && type != GgmlType::kF16 && type != GgmlType::kBF16 &&
                     type != GgmlType::kQ8_0 && type != GgmlType::kQ4_0,
                 UsageError, "synthetic model: type ", io::ggml_type_name(type),
                 " (supported: F32, F16, BF16, Q8_0, Q4_0)");
}

void put_f16(std::byte* p, float v) {
  std::uint16_t const h = float_to_f16_bits(v);
  std::memcpy(p, &h, 2);
}

/// Encodes one row of `x` (cols values) as `type` at `out`.
void encode_row(io::GgmlType type, float const* x, std::size_t cols, std::byte* out) {
  switch (type) {
    case io::GgmlType::kF32: std::memcpy(out, x, 4 * cols); return;
    case io::GgmlType::kF16:
      for (std::size_t i = 0; i < cols; ++i) put_f16(out + 2 * i, x[i]);
      return;
    case io::GgmlType::kBF16:
      for (std::size_t i = 0; i < cols; ++i) {
        std::uint32_t u;
        std::memcpy(&u, &x[i], 4);
        std::uint16_t const b = static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
        std::memcpy(out + 2 * i, &b, 2);
      }
      return;
    case io::GgmlType::kQ8_0:
    case io::GgmlType::kQ4_0: {
      bool const q8 = type == io::GgmlType::kQ8_0;
      std::size_t const block_bytes = q8 ? 34 : 18;
      for (std::size_t b = 0; b < cols / 32; ++b) {
        float const* v = x + 32 * b;
        std::byte* o = out + block_bytes * b;
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[i]));
        float const d = amax / (q8 ? 127.0f : 7.0f);
        float const inv = d > 0 ? 1.0f / d : 0.0f;
        put_f16(o, d);
        if (q8) {
          for (int i = 0; i < 32; ++i) o[2 + i] = static_cast<std::byte>(static_cast<std::int8_t>(std::lround(v[i] * inv)));
        } else {
          auto code = [&](float f) { return static_cast<unsigned>(std::clamp<long>(std::lround(f * inv) + 8, 0, 15)); };
          for (int j = 0; j < 16; ++j) o[2 + j] = static_cast<std::byte>(code(v[j]) | (code(v[j + 16]) << 4));
        }
      }
      return;
    }
    default: break;
  }
}

}  // namespace

std::vector<SyntheticShape> const& synthetic_shapes() {
  static std::vector<SyntheticShape> const shapes = {
      {"tiny", shape(256, 4, 4, 2, 768, 2048, 10000, 2048, false)},
      {"llama-3.2-1b", shape(2048, 16, 32, 8, 8192, 128256, 500000, 131072, true)},
      {"llama-2-7b", shape(4096, 32, 32, 32, 11008, 32000, 10000, 4096, false)},
      {"llama-3-8b", shape(4096, 32, 32, 8, 14336, 128256, 500000, 8192, false)},
      {"llama-2-13b", shape(5120, 40, 40, 40, 13824, 32000, 10000, 4096, false)},
      {"llama-2-70b", shape(8192, 80, 64, 8, 28672, 32000, 10000, 4096, false)},
  };
  return shapes;
}

SyntheticShape const& synthetic_shape(std::string const& name) {
  std::string known;
  for (SyntheticShape const& s : synthetic_shapes()) {
    if (s.name == name) return s;
    known += str_cat(known.empty() ? "" : ", ", s.name);
  }
  throw UsageError(str_cat("synthetic model: unknown shape '", name, "' (known: ", known, ")"));
}

io::TokenizerData synthetic_tokenizer(std::size_t vocab) {
  DFROT_THROW_IF(vocab < 259, UsageError, "synthetic tokenizer: vocabulary ", vocab, " < 259");
  io::TokenizerData t;
  t.kind = io::TokenizerData::Kind::kSentencePieceBpe;
  t.pre = "default";
  auto add = [&](std::string piece, int type) {
    t.tokens.push_back(std::move(piece));
    t.scores.push_back(-static_cast<float>(t.tokens.size()));
    t.token_types.push_back(type);
  };
  add("<unk>", io::kTokenUnknown);
  add("<s>", io::kTokenControl);
  add("</s>", io::kTokenControl);
  char hex[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    add(hex, io::kTokenByte);
  }
  // The word boundary and printable ASCII (alone and after it), so text maps to pieces, not bytes.
  add("\xe2\x96\x81", io::kTokenNormal);
  for (char c = '!'; c <= '~' && t.tokens.size() + 2 <= vocab; ++c) {
    add(std::string(1, c), io::kTokenNormal);
    add(str_cat("\xe2\x96\x81", std::string(1, c)), io::kTokenNormal);
  }
  while (t.tokens.size() < vocab) add(str_cat("\xe2\x96\x81w", t.tokens.size()), io::kTokenNormal);
  t.unk_id = 0;
  t.bos_id = 1;
  t.eos_id = 2;
  return t;
}

std::uintmax_t synthetic_tensor_bytes(io::LlamaHParams const& hp, io::GgmlType type) {
  check_type(type);
  std::uintmax_t n = 0;
  for (Matrix const& m : tensor_list(hp)) {
    io::GgufTensorSpec const s{m.name, m.norm ? std::vector<std::size_t>{m.cols} : std::vector<std::size_t>{m.rows, m.cols},
                               m.norm ? io::GgmlType::kF32 : type};
    n += (s.bytes() + 31) / 32 * 32;
  }
  return n;
}

void write_synthetic_model(std::filesystem::path const& path, io::LlamaHParams const& hp,
                           io::GgmlType type, std::uint64_t seed, int n_threads,
                           std::function<void(std::size_t, std::size_t)> const& progress) {
  check_type(type);
  std::vector<Matrix> const list = tensor_list(hp);
  std::vector<io::GgufTensorSpec> specs;
  for (Matrix const& m : list) {
    specs.push_back({m.name, m.norm ? std::vector<std::size_t>{m.cols} : std::vector<std::size_t>{m.rows, m.cols},
                     m.norm ? io::GgmlType::kF32 : type});
  }
  io::GgufWriter meta;
  io::set_llama_gguf_metadata(meta, hp, synthetic_tokenizer(hp.vocab), false, "dfrot synthetic", path);
  meta.set("dfrot.synthetic_seed", io::gguf_u64(seed));
  io::GgufStreamWriter out = meta.stream(path, specs);
  try {
  std::vector<std::byte> bytes;
  for (std::size_t t = 0; t < list.size(); ++t) {
    Matrix const& m = list[t];
    io::GgmlType const ty = specs[t].type;
    std::size_t const row_bytes = specs[t].bytes() / m.rows;
    bytes.resize(specs[t].bytes());
    double const scale = 1.0 / std::sqrt(double(m.cols));
    // Row blocks with their own seeds: the same bits for any thread count.
    constexpr std::size_t kRowsPerBlock = 16;
    std::size_t const n_blocks = (m.rows + kRowsPerBlock - 1) / kRowsPerBlock;
    parallel_for(n_blocks, n_threads, 1, [&](std::size_t b0, std::size_t b1) {
      std::vector<float> row(m.cols);
      for (std::size_t b = b0; b < b1; ++b) {
        Rng rng(seed ^ (0x9e3779b97f4a7c15ull * (t + 1)) ^ (b << 20));
        for (std::size_t r = b * kRowsPerBlock; r < std::min(m.rows, (b + 1) * kRowsPerBlock); ++r) {
          for (float& v : row) v = static_cast<float>(m.norm ? 1.0 + 0.1 * rng.normal() : scale * rng.normal());
          encode_row(ty, row.data(), m.cols, bytes.data() + r * row_bytes);
        }
      }
    });
    out.append(m.name, bytes);
    if (progress) progress(t + 1, list.size());
  }
  out.commit();
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(out.partial_path(), ec);  // a synthetic model is cheap to write again
    throw;
  }
}

}  // namespace dfrot::app
