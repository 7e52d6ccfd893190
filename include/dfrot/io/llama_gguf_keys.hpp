// SPDX-License-Identifier: Apache-2.0
// set_llama_gguf_metadata: the general.*, llama.* and tokenizer.ggml.* keys of a LLaMA-family GGUF
// file as llama.cpp writes them, from any model's hyper-parameters and tokenizer — shared by dfrot's
// quantized-model files and the synthetic models of the large-model benchmarks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "dfrot/core/error.hpp"
#include "dfrot/io/gguf_writer.hpp"
#include "dfrot/io/llama_checkpoint.hpp"

namespace dfrot::io {

/// Sets the keys on `g`. `has_rope_freqs`: the file will carry a rope_freqs tensor (the only way to
/// store a RoPE scaling other than linear). \throws UsageError naming `path` otherwise.
inline void set_llama_gguf_metadata(GgufWriter& g, LlamaHParams const& c, TokenizerData const& tok,
                                    bool has_rope_freqs, std::string const& name,
                                    std::filesystem::path const& path) {
  g.set("general.architecture", gguf_string("llama"));
  g.set("general.name", gguf_string(name));
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
  if (c.rope_scaling == RopeScalingType::kLinear) {
    g.set("llama.rope.scaling.type", gguf_string("linear"));
    g.set("llama.rope.scaling.factor", gguf_f32(c.rope_factor));
  } else {
    DFROT_THROW_IF(c.rope_scaling != RopeScalingType::kNone && !has_rope_freqs,
                   UsageError, "gguf '", path.string(),
                   "': this RoPE scaling can only be stored as a rope_freqs tensor, which the "
                   "model does not have");
  }
  bool const spm = tok.kind == TokenizerData::Kind::kSentencePieceBpe;
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
}

}  // namespace dfrot::io
