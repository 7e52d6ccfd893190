// SPDX-License-Identifier: Apache-2.0
// LayerSource: a LLaMA-family checkpoint read one part at a time — the dense part (embeddings,
// final norm, lm_head, RoPE factors), then any decoder layer — so that a model larger than memory
// can be transformed and quantized layer by layer. A format keeps the weights in their file type
// (mapped) and converts one tensor to FP32 when asked for: GgufLayerSource (GGUF files),
// HfLayerSource (Hugging Face safetensors directories); open_layer_source picks one.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <string>

#include "dfrot/core/error.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "dfrot/model/model_config.hpp"

namespace dfrot::model {

class LayerSource {
 public:
  virtual ~LayerSource() = default;

  /// The hyper-parameters; tied_embeddings is final once dense() has run.
  ModelConfig const& config() const noexcept { return config_; }
  std::optional<io::TokenizerData> const& tokenizer() const noexcept { return tokenizer_; }
  /// The checkpoint in error messages ("gguf 'x.gguf'", "safetensors checkpoint 'dir'").
  virtual std::string const& where() const noexcept = 0;
  /// Bytes of the weights as stored.
  virtual std::size_t stored_bytes() const noexcept = 0;

  /// The dense part as LlamaWeights without layers (`layers` is empty): embeddings, final norm,
  /// lm_head (empty when tied) and RoPE factors. \throws FormatError for a non-finite weight.
  LlamaWeights dense() {
    LlamaWeights w;
    std::size_t const d = config_.hidden;
    w.tok_embeddings = matrix("tok_embeddings", config_.vocab, d);
    w.norm = vector("norm", d);
    if (has("output")) {
      w.output = matrix("output", config_.vocab, d);
      if (tie_identical_output_ &&
          std::memcmp(w.output.data(), w.tok_embeddings.data(), sizeof(float) * w.output.size()) == 0) {
        config_.tied_embeddings = true;  // a converter's copy of the embeddings
        w.output = RowMatrix();
      }
    }
    if (has("rope_freqs")) {
      Vector const r = vector("rope_freqs", config_.head_dim / 2);
      w.rope_freq_factors.assign(r.data(), r.data() + r.size());
    }
    w.config = config_;
    return w;
  }

  /// Decoder layer `l` in FP32: the values the whole-model loader gives (load_llama_checkpoint +
  /// make_llama_weights). \throws UsageError for l ≥ n_layers, FormatError for a non-finite weight.
  LayerWeights layer(std::size_t l) const {
    ModelConfig const& c = config_;
    DFROT_THROW_IF(l >= c.n_layers, UsageError, where(), ": layer ", l, " of ", c.n_layers);
    std::size_t const d = c.hidden, q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
    auto name = [&](char const* field) { return io::layer_tensor_name(l, field); };
    LayerWeights L;
    L.attention_norm = vector(name("attention_norm"), d);
    L.wq = matrix(name("attention.wq"), q, d);
    L.wk = matrix(name("attention.wk"), kv, d);
    L.wv = matrix(name("attention.wv"), kv, d);
    L.wo = matrix(name("attention.wo"), d, q);
    L.ffn_norm = vector(name("ffn_norm"), d);
    L.w_gate = matrix(name("feed_forward.w1"), c.intermediate, d);
    L.w_down = matrix(name("feed_forward.w2"), d, c.intermediate);
    L.w_up = matrix(name("feed_forward.w3"), c.intermediate, d);
    return L;
  }

 protected:
  /// Whether the checkpoint holds tensor `name` (canonical name, llama_checkpoint.hpp).
  virtual bool has(std::string const& name) const = 0;
  /// Converts tensor `name` (validated on open to hold out.size() values) to FP32 into `out`.
  virtual void read(std::string const& name, std::span<float> out) const = 0;

  ModelConfig config_;
  std::optional<io::TokenizerData> tokenizer_;
  /// An output.weight bit-identical to the embeddings counts as tied (GGUF: load_llama_gguf does).
  bool tie_identical_output_ = false;

 private:
  void read_finite(std::string const& name, std::span<float> out) const {
    read(name, out);
    for (std::size_t i = 0; i < out.size(); ++i) {
      DFROT_THROW_IF(!std::isfinite(out[i]), FormatError, where(), ": tensor '", name,
                     "' holds a non-finite value (", out[i], ") at flat index ", i);
    }
  }
  RowMatrix matrix(std::string const& name, std::size_t rows, std::size_t cols) const {
    RowMatrix m(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    read_finite(name, {m.data(), rows * cols});
    return m;
  }
  Vector vector(std::string const& name, std::size_t n) const {
    Vector v(static_cast<Eigen::Index>(n));
    read_finite(name, {v.data(), n});
    return v;
  }
};

}  // namespace dfrot::model
