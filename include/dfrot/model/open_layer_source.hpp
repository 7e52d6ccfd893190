// SPDX-License-Identifier: Apache-2.0
// open_layer_source: the LayerSource of a checkpoint path, by format — a GGUF file, or a Hugging
// Face directory (or its config.json / *.safetensors / index file). llama2.c checkpoints have no
// layer source: load_llama_checkpoint reads them whole (FP32 files of at most 110M parameters in
// practice).
#pragma once

#include <filesystem>
#include <memory>

#include "dfrot/core/error.hpp"
#include "dfrot/io/file_read.hpp"
#include "dfrot/model/gguf_layer_source.hpp"
#include "dfrot/model/hf_layer_source.hpp"
#include "dfrot/model/layer_source.hpp"

namespace dfrot::model {

/// Whether `path` can be read layer by layer (a GGUF file or a Hugging Face checkpoint).
inline bool has_layer_source(std::filesystem::path const& path) {
  std::error_code ec;
  if (!io::hf_checkpoint_dir(path).empty()) return true;
  return std::filesystem::is_regular_file(path, ec) && io::starts_with_magic(path, "GGUF");
}

/// \throws UsageError for a format without a layer source (llama2.c), the source's errors else.
inline std::unique_ptr<LayerSource> open_layer_source(std::filesystem::path const& path) {
  if (std::filesystem::path const dir = io::hf_checkpoint_dir(path); !dir.empty()) {
    return std::make_unique<HfLayerSource>(dir);
  }
  DFROT_THROW_IF(!has_layer_source(path), UsageError, "checkpoint '", path.string(),
                 "' cannot be read layer by layer (GGUF files and Hugging Face directories can; "
                 "llama2.c checkpoints load whole)");
  return std::make_unique<GgufLayerSource>(path);
}

}  // namespace dfrot::model
