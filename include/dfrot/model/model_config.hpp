// SPDX-License-Identifier: Apache-2.0
// ModelConfig: the LLaMA-family hyper-parameters, whatever checkpoint format they came from.
#pragma once

#include <string>

#include "dfrot/core/error.hpp"
#include "dfrot/io/llama_checkpoint.hpp"

namespace dfrot::model {

/// One configuration for LLaMA-2/3, Mistral and SmolLM2 (loaders fill it; see io::LlamaHParams).
using ModelConfig = io::LlamaHParams;

/// Checks the sizes are consistent (heads divide, GQA groups whole, head_dim even for RoPE).
/// \throws ShapeError naming the offending field.
/// Documented limits of every size a model file may declare (far above any LLaMA-family model:
/// Llama-3.1-405B has d = 16384, 126 layers, d_ff = 53248, 128k vocab): a hostile file with a huge
/// size is refused before anything of that size is allocated.
inline constexpr std::size_t kMaxHidden = std::size_t{1} << 16;
inline constexpr std::size_t kMaxLayers = 1024;
inline constexpr std::size_t kMaxHeads = 1024;
inline constexpr std::size_t kMaxHeadDim = 1024;
inline constexpr std::size_t kMaxIntermediate = std::size_t{1} << 20;
inline constexpr std::size_t kMaxVocab = std::size_t{1} << 24;
/// Positions of the RoPE table and the KV cache (context length; -c, --calib-len).
inline constexpr std::size_t kMaxPositions = std::size_t{1} << 20;

/// \throws ShapeError when a size is zero, inconsistent or above the limits above.
inline void validate(ModelConfig const& c) {
  auto limit = [](std::size_t v, std::size_t max, char const* what) {
    DFROT_THROW_IF(v > max, ShapeError, "model config: ", what, " ", v, " exceeds the limit of ", max);
  };
  limit(c.hidden, kMaxHidden, "hidden size");
  limit(c.n_layers, kMaxLayers, "layer count");
  limit(c.n_heads, kMaxHeads, "head count");
  limit(c.n_kv_heads, kMaxHeads, "kv head count");
  limit(c.head_dim, kMaxHeadDim, "head dim");
  limit(c.intermediate, kMaxIntermediate, "intermediate size");
  limit(c.vocab, kMaxVocab, "vocabulary size");
  DFROT_THROW_IF(c.hidden == 0 || c.n_layers == 0 || c.n_heads == 0 || c.n_kv_heads == 0 ||
                     c.head_dim == 0 || c.intermediate == 0 || c.vocab == 0,
                 ShapeError, "model config: a size is zero (hidden ", c.hidden, ", layers ",
                 c.n_layers, ", heads ", c.n_heads, ", kv heads ", c.n_kv_heads, ", head dim ",
                 c.head_dim, ", intermediate ", c.intermediate, ", vocab ", c.vocab, ")");
  DFROT_THROW_IF(c.n_heads % c.n_kv_heads != 0, ShapeError, "model config: ", c.n_heads,
                 " query heads are not a multiple of ", c.n_kv_heads, " kv heads");
  DFROT_THROW_IF(c.head_dim % 2 != 0, ShapeError, "model config: head dim ", c.head_dim,
                 " is odd (RoPE rotates pairs)");
}

/// "d=576 L=30 heads=9/3 d_h=64 ff=1536 vocab=49152 theta=100000" style summary.
inline std::string describe(ModelConfig const& c) {
  return str_cat(c.architecture, " d=", c.hidden, " L=", c.n_layers, " heads=", c.n_heads, "/",
                 c.n_kv_heads, " d_h=", c.head_dim, " ff=", c.intermediate, " vocab=", c.vocab,
                 " theta=", c.rope_theta, " eps=", c.norm_eps,
                 c.tied_embeddings ? " tied" : " untied");
}

}  // namespace dfrot::model
