// SPDX-License-Identifier: Apache-2.0
// load_model: checkpoint + tokenizer + LlamaModel in one call for the apps.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "dfrot/model/llama_model.hpp"
#include "dfrot/tokenizer/tokenizer.hpp"

namespace dfrot::app {

struct LoadedModel {
  std::unique_ptr<model::LlamaModel> model;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  io::TokenizerData tokenizer_data;  ///< what the tokenizer was built from (to save it again)
};

/// Loads any supported checkpoint; the tokenizer comes from the checkpoint or, when given, from
/// `tokenizer_path` (llama2.c tokenizer.bin). The model is sized for `max_positions`.
LoadedModel load_model(std::string const& path, std::string const& tokenizer_path,
                       std::size_t max_positions);

/// The whole file as bytes. \throws IoError naming the file when it cannot be read.
std::string read_text(std::string const& path);

}  // namespace dfrot::app
