// SPDX-License-Identifier: Apache-2.0
// HfLayerSource: a Hugging Face checkpoint directory (config.json + model.safetensors or the
// shards of model.safetensors.index.json) as a LayerSource (model/layer_source.hpp). Every shard
// is mapped; a tensor is converted from F16/BF16/F32 when asked for and its pages dropped after,
// so a 7B or 70B directory costs one layer of FP32 at a time. q_proj/k_proj rows are permuted
// to adjacent-pair RoPE order as load_llama_hf does: the values are that loader's.
#pragma once

#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/io/safetensors.hpp"
#include "dfrot/model/layer_source.hpp"

namespace dfrot::model {

class HfLayerSource final : public LayerSource {
 public:
  /// Opens and validates the directory without converting any weight: config.json, every
  /// tensor's presence, shape and dtype, no unknown or duplicated tensor, the tokenizer.
  /// \throws IoError when a file cannot be read, FormatError naming file and tensor otherwise.
  explicit HfLayerSource(std::filesystem::path const& dir)
      : where_(str_cat("safetensors checkpoint '", dir.string(), "'")) {
    config_ = io::read_hf_hparams(dir);
    std::vector<std::filesystem::path> const files = io::hf_safetensors_files(dir);
    shards_.reserve(files.size());  // (tensors_ points into the shards: no reallocation)
    for (auto const& file : files) {
      io::SafetensorsFile const& st = shards_.emplace_back(file);
      for (io::SafetensorsTensorInfo const& info : st.tensors()) {
        if (io::is_hf_buffer(info.name)) continue;
        std::string const name = io::canonical_name_from_hf(info.name);
        DFROT_THROW_IF(name.empty(), FormatError, st.where(), ": unexpected tensor '", info.name,
                       "' (not part of a llama model)");
        if (name == "output" && config_.tied_embeddings) continue;  // saved although tied
        DFROT_THROW_IF(tensors_.count(name) != 0, FormatError, st.where(), ": tensor '", info.name,
                       "' appears in more than one shard");
        st.check_convertible(info);
        tensors_[name] = {&st, &info};
      }
    }
    for (auto const& [name, shape] : io::expected_llama_tensors(config_)) {
      auto const it = tensors_.find(name);
      DFROT_THROW_IF(it == tensors_.end(), FormatError, where_, ": tensor '", name, "' is missing");
      DFROT_THROW_IF(it->second.info->shape != shape, FormatError, it->second.file->where(), ": tensor '",
                     it->second.info->name, "' has shape ", io::detail::shape_str(it->second.info->shape),
                     ", expected ", io::detail::shape_str(shape), " from the hyper-parameters");
    }
    tokenizer_ = io::read_hf_tokenizer(dir);
    io::merge_hf_special_ids(config_, tokenizer_);
    if (tokenizer_) io::validate_tokenizer(*tokenizer_, config_.vocab, where_);
    validate(config_);
  }

  std::string const& where() const noexcept override { return where_; }

  /// Bytes of the weights as stored (every tensor read, across the shards).
  std::size_t stored_bytes() const noexcept override {
    std::size_t n = 0;
    for (auto const& [name, t] : tensors_) n += t.info->end - t.info->begin;
    return n;
  }

 protected:
  bool has(std::string const& name) const override { return tensors_.count(name) != 0; }
  void read(std::string const& name, std::span<float> out) const override {
    Entry const& t = tensors_.at(name);
    std::vector<float> values(out.size());
    t.file->read_f32_into(*t.info, values);
    t.file->release(*t.info);
    io::hf_rows_to_adjacent(name, t.info->name, t.info->shape, values, config_, t.file->where());
    std::copy(values.begin(), values.end(), out.begin());
  }

 private:
  struct Entry {
    io::SafetensorsFile const* file;
    io::SafetensorsTensorInfo const* info;
  };
  std::string where_;
  std::vector<io::SafetensorsFile> shards_;
  std::map<std::string, Entry> tensors_;
};

}  // namespace dfrot::model
