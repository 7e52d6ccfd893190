// SPDX-License-Identifier: Apache-2.0
// The run-time engine of a quantized model in the apps: the int4 engine (packed weights, integer
// GEMMs, KV4 cache) by default, the fake-quant oracle with --fake.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/model_loading.hpp"
#include "common/prepare.hpp"
#include "dfrot/pipeline/int4_engine.hpp"
#include "dfrot/pipeline/model_file.hpp"

namespace dfrot::app {

struct EngineFlags {
  bool fake = false;            ///< --fake: FP32 GEMMs on dequantized weights + fake quantizers
  std::string dense = "f16";    ///< --dense f16|q8|f32: embeddings / lm_head of the int4 engine
  pipeline::DenseType dense_type() const {
    return pipeline::parse_dense_type(dense);
  }
};

/// Declares --fake and --dense on `sub`.
void add_engine_flags(CLI::App& sub, EngineFlags& flags);

/// How a quantized model runs: the hooks for its forward passes and a one-line description.
struct EngineSetup {
  std::unique_ptr<model::ForwardHooks> hooks;
  std::string engine;  ///< "int4 (W4A4 avx512vnni, KV4, f16 lm_head)" or "fake-quant …"
  std::shared_ptr<pipeline::Int4Linears> int4;  ///< the int4 engine; null on the fake path
};

/// After prepare_model (and the optional skew plan): moves `m` onto the int4 engine (its FP32
/// decoder weights are released) unless --fake or the scheme needs the fake path (said on stderr).
EngineSetup setup_engine(LoadedModel& m, pipeline::QuantScheme const& s, PreparedModel& prepared,
                         pipeline::QuantizerPlan const* plan, EngineFlags const& flags, int n_threads);

/// A version-2 file (`dfrot quantize`) on the int4 engine, or (--fake) its dequantized weights with
/// the fake quantizers; `scheme` is the stored scheme with any run-time overlay.
LoadedModel load_quantized_file(std::string const& path, pipeline::QuantizedModelInfo const& info,
                                pipeline::QuantScheme const& scheme, std::size_t max_positions,
                                EngineFlags const& flags, int n_threads, EngineSetup& setup);

}  // namespace dfrot::app
