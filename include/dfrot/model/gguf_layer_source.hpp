// SPDX-License-Identifier: Apache-2.0
// GgufLayerSource: a LLaMA-family GGUF model read one part at a time — the dense part (embeddings,
// final norm, lm_head, RoPE factors), then any decoder layer — so a model larger than memory can be
// transformed and quantized layer by layer. The weights stay in their file type in the mapping;
// each tensor is converted to FP32 only when asked for, and its pages are dropped again after.
// The FP32 values are those load_llama_checkpoint + make_llama_weights give (same dequantizers).
#pragma once

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/gguf.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "dfrot/model/model_config.hpp"

namespace dfrot::model {

class GgufLayerSource {
 public:
  /// Opens and validates `path` without reading any weight: hyper-parameters, every tensor's
  /// presence, shape and type (convertible to FP32), no unknown tensor, the tokenizer.
  /// \throws IoError when it cannot be read, FormatError naming the file and tensor otherwise.
  explicit GgufLayerSource(std::filesystem::path const& path) : file_(path) {
    config_ = io::gguf_llama_hparams(file_);
    for (io::GgufTensorInfo const& t : file_.tensors()) {
      std::string const name = io::canonical_name_from_gguf(t.name);
      DFROT_THROW_IF(name.empty(), FormatError, where(), ": unexpected tensor '", t.name,
                     "' (not part of a llama model)");
      tensors_[name] = &t;
    }
    config_.tied_embeddings = tensors_.count("output") == 0;
    io::detail::validate_hparams(config_, where());
    auto const expected = io::expected_llama_tensors(config_);
    for (auto const& [name, shape] : expected) {
      auto const it = tensors_.find(name);
      DFROT_THROW_IF(it == tensors_.end(), FormatError, where(), ": tensor '", name, "' is missing");
      DFROT_THROW_IF(it->second->shape() != shape, FormatError, where(), ": tensor '", name,
                     "' has shape ", io::detail::shape_str(it->second->shape()), ", expected ",
                     io::detail::shape_str(shape), " from the hyper-parameters");
      file_.check_dequantizable(*it->second);
    }
    for (auto const& [name, t] : tensors_) {
      if (expected.count(name) != 0) continue;
      DFROT_THROW_IF(name != "rope_freqs", FormatError, where(), ": unexpected tensor '", name, "'");
      DFROT_THROW_IF(t->n_elements != config_.head_dim / 2, FormatError, where(),
                     ": tensor 'rope_freqs' has ", t->n_elements, " values, expected ",
                     config_.head_dim / 2);
      file_.check_dequantizable(*t);
    }
    tokenizer_ = io::tokenizer_from_gguf(file_);
    if (tokenizer_) {
      io::validate_tokenizer(*tokenizer_, config_.vocab, where());
      config_.bos_id = tokenizer_->bos_id;
      config_.eos_id = tokenizer_->eos_id;
    }
    validate(config_);
  }

  /// The hyper-parameters; tied_embeddings is final once dense() has run (an output.weight
  /// bit-identical to token_embd.weight also counts as tied, as load_llama_gguf decides).
  ModelConfig const& config() const noexcept { return config_; }
  std::optional<io::TokenizerData> const& tokenizer() const noexcept { return tokenizer_; }
  std::string const& where() const noexcept { return file_.where(); }
  io::GgufFile const& file() const noexcept { return file_; }

  /// The dense part as LlamaWeights without layers (`layers` is empty): embeddings, final norm,
  /// lm_head (empty when tied) and RoPE factors. \throws FormatError for a non-finite weight.
  LlamaWeights dense() {
    LlamaWeights w;
    std::size_t const d = config_.hidden;
    w.tok_embeddings = matrix("tok_embeddings", config_.vocab, d);
    w.norm = vector("norm", d);
    if (tensors_.count("output") != 0) {
      w.output = matrix("output", config_.vocab, d);
      if (std::memcmp(w.output.data(), w.tok_embeddings.data(), sizeof(float) * w.output.size()) == 0) {
        config_.tied_embeddings = true;  // a converter's copy of the embeddings
        w.output = RowMatrix();
      }
    }
    if (tensors_.count("rope_freqs") != 0) {
      Vector const r = vector("rope_freqs", config_.head_dim / 2);
      w.rope_freq_factors.assign(r.data(), r.data() + r.size());
    }
    w.config = config_;
    return w;
  }

  /// Decoder layer `l` in FP32. \throws FormatError for a non-finite weight.
  LayerWeights layer(std::size_t l) const {
    DFROT_THROW_IF(l >= config_.n_layers, UsageError, where(), ": layer ", l, " of ", config_.n_layers);
    ModelConfig const& c = config_;
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

  /// Bytes of the weights as stored (the file's tensor data).
  std::size_t stored_bytes() const noexcept {
    std::size_t n = 0;
    for (auto const& [name, t] : tensors_) n += t->n_bytes;
    return n;
  }

 private:
  void read(std::string const& name, float* out, std::size_t n) const {
    io::GgufTensorInfo const& t = *tensors_.at(name);
    file_.read_f32_into(t, {out, n});
    file_.release(t);
    for (std::size_t i = 0; i < n; ++i) {
      DFROT_THROW_IF(!std::isfinite(out[i]), FormatError, where(), ": tensor '", name,
                     "' holds a non-finite value (", out[i], ") at flat index ", i);
    }
  }
  RowMatrix matrix(std::string const& name, std::size_t rows, std::size_t cols) const {
    RowMatrix m(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    read(name, m.data(), rows * cols);
    return m;
  }
  Vector vector(std::string const& name, std::size_t n) const {
    Vector v(static_cast<Eigen::Index>(n));
    read(name, v.data(), n);
    return v;
  }

  io::GgufFile file_;
  ModelConfig config_;
  std::map<std::string, io::GgufTensorInfo const*> tensors_;
  std::optional<io::TokenizerData> tokenizer_;
};

}  // namespace dfrot::model
