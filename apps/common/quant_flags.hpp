// SPDX-License-Identifier: Apache-2.0
// Quantization flags shared by the verbs that build a QuantScheme (`dfrot ppl`, later quantize).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "dfrot/pipeline/quant_scheme.hpp"

namespace dfrot::app {

/// The quantization flags of a verb, turned into a scheme after parsing.
struct QuantFlags {
  /// A fresh scheme: preset first, explicit flags override; GPTQ calibration seeded by `seed`.
  std::function<pipeline::QuantScheme(std::uint64_t seed)> scheme;
  /// For a model file that dfrot quantize already transformed: the stored scheme with the
  /// explicitly given run-time flags (activation / KV) applied. \throws UsageError when offline
  /// flags (--rotate, --preset, --w-bits, --gptq, …) were given for such a model.
  std::function<pipeline::QuantScheme(pipeline::QuantScheme stored, std::string const& model)>
      runtime_overlay;
};

/// Declares --rotate, --preset, --w-bits/--a-bits/--k-bits/--v-bits, --w-clip, --a-asym/--k-asym/
/// --v-asym, --a-clip/--k-clip/--v-clip, --a-group, --kv-per-token, --emb-mean, --gptq/--rtn,
/// --calib-windows, --calib-len and --percdamp on `sub`.
QuantFlags add_quant_flags(CLI::App& sub);

/// The team data folder: $DFROT_SHARED_DIR, else the build's DFROT_SHARED_DIR (CMake cache,
/// default <source>/../shared).
std::string shared_dir();
/// The default calibration text: <shared>/data/wikitext-2/wiki.valid.tokens (never the test split).
std::string default_calibration_text();

}  // namespace dfrot::app
