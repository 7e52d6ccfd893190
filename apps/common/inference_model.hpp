// SPDX-License-Identifier: Apache-2.0
// InferenceModel: a model ready for `dfrot run` / `dfrot bench` — weights, tokenizer, the hooks
// its engine needs and the engine's name. The verbs use nothing else, so the engine behind it
// (FP32, fake quantization, integer kernels) can change without touching them.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/model_loading.hpp"
#include "dfrot/model/forward_hooks.hpp"

namespace dfrot::app {

struct InferenceModel {
  LoadedModel loaded;                          ///< model + tokenizer
  std::unique_ptr<model::ForwardHooks> hooks;  ///< null for an FP model
  std::string engine;                          ///< "fp32", "fake-quant W4A4K4V4", ...
  /// Weight bytes one decode step reads on the int4 engine (packed linears + lm_head, or the
  /// embeddings and transform of a tied head); 0 for the other engines.
  std::size_t decode_weight_bytes = 0;
};

/// Loads `path` for generation with positions up to `max_positions`. A version-2 file of
/// `dfrot quantize` runs on the int4 engine (or, with `fake`, its fake-quant oracle); a version-1
/// file with the online transforms and fake quantizers it records; any other model in FP32.
InferenceModel load_inference_model(std::string const& path, std::string const& tokenizer_path,
                                    std::size_t max_positions, int n_threads, bool fake = false);

/// The model's chat template (GGUF tokenizer.chat_template, or chat_template in an HF
/// directory's tokenizer_config.json); empty when it has none.
std::string read_chat_template(std::string const& path);

}  // namespace dfrot::app
