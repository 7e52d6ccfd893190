// SPDX-License-Identifier: Apache-2.0
// prepare_model: the shared path of `dfrot ppl` and `dfrot quantize` — fuse and rotate the loaded
// model for a scheme, draw calibration windows when GPTQ needs them, quantize the weights.
#pragma once

#include <optional>
#include <string>

#include "common/model_loading.hpp"
#include "dfrot/pipeline/quantized_model.hpp"

namespace dfrot::app {

struct PreparedModel {
  pipeline::OnlineTransformOptions online;
  pipeline::SequentialGptqReport gptq;  ///< empty for RTN
  pipeline::QuantizedLinears codes;     ///< every linear's codes and scales (w_bits < 16)
  bool source_tied = false;             ///< the loaded model tied lm_head to its embeddings
  double transform_seconds = 0;         ///< norm fusion + rotations
  double quantize_seconds = 0;          ///< RTN or GPTQ (calibration forwards included)
};

/// Rewrites `m`'s weights for `s`; GPTQ reads its windows from `calib_path` (tokenized once with
/// BOS at the start). Progress goes to stderr.
PreparedModel prepare_model(LoadedModel& m, pipeline::QuantScheme const& s,
                            std::string const& calib_path, int n_threads);

/// Calibration windows of `calib_path` (tokenized once, BOS at the start).
eval::CalibrationSet load_calibration(LoadedModel const& m, std::string const& calib_path,
                                      eval::CalibrationOptions const& o);
eval::CalibrationSet load_calibration(tokenizer::Tokenizer const& tok, std::string const& calib_path,
                                      eval::CalibrationOptions const& o);

/// The progress line of sequential GPTQ on stderr ("\rgptq: layer 3/30 o_proj  12 s").
void print_gptq_progress(pipeline::GptqModelProgress const& p);
/// Learned clipping's summary on stderr: per site, the mean ratio and the output error saved.
void print_learned_clip(pipeline::SequentialGptqReport const& r);

/// With `--auto-asym`: the per-layer quantizer symmetries measured on the first calibration
/// window of the (transformed, weight-quantized) model; nullopt otherwise.
std::optional<pipeline::QuantizerPlan> plan_quantizer_symmetry(LoadedModel const& m,
                                                          pipeline::QuantScheme const& s,
                                                          pipeline::OnlineTransformOptions const& online,
                                                          std::string const& calib_path,
                                                          int n_threads);

/// The plan a prepared model runs with: `plan` (the skew plan, when any) plus the clip ratios that
/// learned clipping (`--lac`) found during GPTQ; nullopt when neither exists.
std::optional<pipeline::QuantizerPlan> with_learned_clip(std::optional<pipeline::QuantizerPlan> plan,
                                                         PreparedModel const& prepared);

}  // namespace dfrot::app
