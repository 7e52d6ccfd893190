// SPDX-License-Identifier: Apache-2.0
// Writes LlamaWeights + a tokenizer as an ordinary llama GGUF (llama.cpp tensor names), in F32 or
// F16: the source files of the streamed-pipeline and layer-source tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "dfrot/core/dtype.hpp"
#include "dfrot/io/gguf_writer.hpp"
#include "dfrot/io/llama_gguf_keys.hpp"
#include "dfrot/model/llama_weights.hpp"

namespace dfrot::test {

struct LlamaGgufOptions {
  io::GgmlType type = io::GgmlType::kF32;  ///< kF32 or kF16 for every tensor
  bool write_tied_output = false;          ///< tied weights: also write output.weight = token_embd
  std::string skip;                        ///< a GGUF tensor name left out
};

inline void write_llama_gguf(std::filesystem::path const& path, model::LlamaWeights const& w,
                             io::TokenizerData const& tok, LlamaGgufOptions const& o = {}) {
  io::GgufWriter g;
  io::set_llama_gguf_metadata(g, w.config, tok, !w.rope_freq_factors.empty(), "test model", path);
  std::vector<std::vector<std::byte>> storage;  // the writer references its tensors' bytes
  auto add = [&](std::string const& name, float const* p, std::vector<std::size_t> shape) {
    if (name == o.skip) return;
    std::size_t n = 1;
    for (std::size_t s : shape) n *= s;
    std::vector<std::byte> bytes;
    if (o.type == io::GgmlType::kF16) {
      bytes.resize(2 * n);
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t const h = float_to_f16_bits(p[i]);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
    } else {
      bytes.resize(4 * n);
      std::memcpy(bytes.data(), p, 4 * n);
    }
    storage.push_back(std::move(bytes));
    g.add_tensor(name, shape, o.type, storage.back());
  };
  auto mat = [&](std::string const& name, model::RowMatrix const& m) {
    add(name, m.data(), {static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())});
  };
  auto vec = [&](std::string const& name, model::Vector const& v) {
    add(name, v.data(), {static_cast<std::size_t>(v.size())});
  };
  storage.reserve(4 + 9 * w.layers.size());
  mat("token_embd.weight", w.tok_embeddings);
  vec("output_norm.weight", w.norm);
  if (!w.is_tied()) mat("output.weight", w.output);
  else if (o.write_tied_output) mat("output.weight", w.tok_embeddings);
  if (!w.rope_freq_factors.empty()) add("rope_freqs.weight", w.rope_freq_factors.data(), {w.rope_freq_factors.size()});
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    model::LayerWeights const& L = w.layers[l];
    auto name = [&](char const* f) { return str_cat("blk.", l, ".", f, ".weight"); };
    vec(name("attn_norm"), L.attention_norm);
    mat(name("attn_q"), L.wq);
    mat(name("attn_k"), L.wk);
    mat(name("attn_v"), L.wv);
    mat(name("attn_output"), L.wo);
    vec(name("ffn_norm"), L.ffn_norm);
    mat(name("ffn_gate"), L.w_gate);
    mat(name("ffn_up"), L.w_up);
    mat(name("ffn_down"), L.w_down);
  }
  g.write(path);
}

}  // namespace dfrot::test
