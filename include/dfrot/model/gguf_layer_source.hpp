// SPDX-License-Identifier: Apache-2.0
// GgufLayerSource: a LLaMA-family GGUF model as a LayerSource (model/layer_source.hpp). The
// weights stay in their file type (F16, BF16, Q8_0, Q4_K, …) in the mapping; each tensor is
// converted to FP32 only when asked for, and its pages are dropped again after. The FP32 values
// are those load_llama_checkpoint + make_llama_weights give (same dequantizers).
#pragma once

#include <filesystem>
#include <map>
#include <span>
#include <string>

#include "dfrot/core/error.hpp"
#include "dfrot/io/gguf.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/layer_source.hpp"

namespace dfrot::model {

class GgufLayerSource final : public LayerSource {
 public:
  /// Opens and validates `path` without reading any weight: hyper-parameters, every tensor's
  /// presence, shape and type (convertible to FP32), no unknown tensor, the tokenizer.
  /// \throws IoError when it cannot be read, FormatError naming the file and tensor otherwise.
  explicit GgufLayerSource(std::filesystem::path const& path) : file_(path) {
    tie_identical_output_ = true;
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

  std::string const& where() const noexcept override { return file_.where(); }
  io::GgufFile const& file() const noexcept { return file_; }

  /// Bytes of the weights as stored (the file's tensor data).
  std::size_t stored_bytes() const noexcept override {
    std::size_t n = 0;
    for (auto const& [name, t] : tensors_) n += t->n_bytes;
    return n;
  }

 protected:
  bool has(std::string const& name) const override { return tensors_.count(name) != 0; }
  void read(std::string const& name, std::span<float> out) const override {
    io::GgufTensorInfo const& t = *tensors_.at(name);
    file_.read_f32_into(t, out);
    file_.release(t);
  }

 private:
  io::GgufFile file_;
  std::map<std::string, io::GgufTensorInfo const*> tensors_;
};

}  // namespace dfrot::model
