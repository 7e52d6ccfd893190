// SPDX-License-Identifier: Apache-2.0
// The model an evaluation verb (`dfrot ppl`, `dfrot eval`) scores: loaded, then fused, rotated and
// quantized for the scheme of the flags (or, for a file of `dfrot quantize`, used as stored), on
// the int4 engine or the fake-quant path. One path, so both verbs evaluate the same model.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/commands.hpp"
#include "common/engine_setup.hpp"
#include "common/model_loading.hpp"
#include "common/prepare.hpp"
#include "common/quant_flags.hpp"
#include "dfrot/pipeline/massive_token_keeping.hpp"
#include "dfrot/pipeline/model_file.hpp"
#include "dfrot/pipeline/skew_plan.hpp"

namespace dfrot::app {

struct EvaluationModel {
  LoadedModel loaded;
  EngineSetup setup;                                    ///< hooks to pass to every forward
  pipeline::QuantScheme scheme;
  PreparedModel prepared;
  std::optional<pipeline::QuantizerPlan> plan;               ///< --auto-asym
  std::optional<pipeline::QuantizedModelInfo> stored;   ///< a file written by dfrot quantize
  std::shared_ptr<pipeline::KeptTokens> kept;           ///< --keep-massive-tokens: what was kept
  double load_seconds = 0;
  double prepare_seconds() const { return prepared.transform_seconds + prepared.quantize_seconds; }
};

struct EvaluationModelSource {
  std::string path;
  std::string tokenizer;   ///< --tokenizer (llama2.c vocabularies)
  std::string calib;       ///< GPTQ / skew-plan calibration text
  std::size_t max_positions = 2048;
};

/// Mean kept rows per layer and sequence (`sequences` forward sequences since the last reset).
double kept_per_sequence(pipeline::KeptTokens const& k, std::size_t sequences);

/// Loads and prepares the model. With --keep-massive-tokens the hooks mark massive rows, measured
/// against per-layer median residual norms of the first calibration window. `unquantized`, when set, runs on the loaded model before its
/// weights are rewritten (a baseline on the same model); it is not called for a stored file,
/// whose unquantized weights are gone. Progress and the scheme / engine lines go to stderr.
EvaluationModel load_evaluation_model(EvaluationModelSource const& src, QuantFlags const& flags,
                                      EngineFlags const& engine_flags, CommonOptions const& common,
                                      std::function<void(LoadedModel&)> const& unquantized = {});

}  // namespace dfrot::app
