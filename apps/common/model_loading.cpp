// SPDX-License-Identifier: Apache-2.0
#include "common/model_loading.hpp"

#include <fstream>
#include <sstream>

#include "dfrot/io/file_read.hpp"
#include "dfrot/io/llama_checkpoint.hpp"

namespace dfrot::app {

LoadedModel load_model(std::string const& path, std::string const& tokenizer_path,
                       std::size_t max_positions) {
  io::LlamaCheckpoint ckpt = io::load_llama_checkpoint(path);
  if (!tokenizer_path.empty()) {
    ckpt.tokenizer =
        io::tokenizer_from_llama2c(io::read_llama2c_tokenizer(tokenizer_path, ckpt.hparams.vocab));
  }
  DFROT_THROW_IF(!ckpt.tokenizer, UsageError, "model '", path,
                 "' carries no tokenizer: pass --tokenizer FILE (llama2.c tokenizer.bin)");
  LoadedModel out;
  out.tokenizer_data = *ckpt.tokenizer;
  out.tokenizer = std::make_unique<tokenizer::Tokenizer>(std::move(*ckpt.tokenizer));
  out.model = std::make_unique<model::LlamaModel>(model::make_llama_weights(std::move(ckpt)),
                                                  max_positions);
  return out;
}

std::string read_text(std::string const& path) { return io::read_file(path, "text"); }

}  // namespace dfrot::app
