// SPDX-License-Identifier: Apache-2.0
#include "common/evaluation_model.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "dfrot/pipeline/quantized_model.hpp"

namespace dfrot::app {

namespace {
// Wraps the engine's hooks in a MassiveTokenKeeper whose reference norms come from the first
// calibration window run through the prepared model.
void keep_massive_tokens(EvaluationModel& e, EvaluationModelSource const& src, int n_threads) {
  DFROT_THROW_IF(e.scheme.a_bits >= 16, UsageError,
                 "--keep-massive-tokens: activations are not quantized (--a-bits 16)");
  model::LlamaModel const& m = *e.loaded.model;
  eval::CalibrationSet const calib = load_calibration(
      e.loaded, src.calib,
      {.n_windows = 1, .window = std::min<std::size_t>(2048, m.max_positions()), .seed = e.scheme.seed});
  pipeline::ResidualNormObserver observer(m.config().n_layers, e.setup.hooks.get());
  auto cache = m.make_cache();
  m.forward_hidden(calib.windows[0], cache, &observer, {.n_threads = n_threads});
  std::vector<double> const medians = observer.medians();
  e.kept = std::make_shared<pipeline::KeptTokens>();
  if (e.setup.int4) {
    e.setup.int4->set_kept_tokens(e.kept);
  } else {
    auto* q = dynamic_cast<pipeline::QuantizationHooks*>(e.setup.hooks.get());
    DFROT_THROW_IF(q == nullptr, UsageError, "--keep-massive-tokens: this engine has no activation quantizers");
    q->set_kept_tokens(e.kept);
  }
  e.setup.hooks = std::make_unique<pipeline::MassiveTokenKeeper>(std::move(e.setup.hooks), medians,
                                                                 e.scheme.keep_massive_ratio, e.kept);
  auto const [lo, hi] = std::minmax_element(medians.begin(), medians.end());
  std::fprintf(stderr,
               "keep massive tokens: residual norm >= %g x the layer's median (medians %.3g .. %.3g "
               "over layers, first calibration window)\n",
               e.scheme.keep_massive_ratio, *lo, *hi);
}
}  // namespace

double kept_per_sequence(pipeline::KeptTokens const& k, std::size_t sequences) {
  if (k.kept_rows.empty() || sequences == 0) return 0;
  return double(k.total_kept()) / double(k.kept_rows.size()) / double(sequences);
}

EvaluationModel load_evaluation_model(EvaluationModelSource const& src, QuantFlags const& flags,
                                      EngineFlags const& engine_flags, CommonOptions const& common,
                                      std::function<void(LoadedModel&)> const& unquantized) {
  EvaluationModel e;
  // A file written by `dfrot quantize` is already transformed: reuse its scheme and transforms.
  e.stored = pipeline::read_quantized_model_info(src.path);
  e.scheme = e.stored ? flags.runtime_overlay(e.stored->scheme, src.path) : flags.scheme(common.seed);
  if (e.stored && e.stored->plan && e.stored->plan->has_clip()) {
    pipeline::QuantScheme const& was = e.stored->scheme;
    DFROT_THROW_IF(e.scheme.act.clip_ratio != was.act.clip_ratio || e.scheme.k.clip_ratio != was.k.clip_ratio ||
                       e.scheme.v.clip_ratio != was.v.clip_ratio,
                   UsageError, "model '", src.path, "' stores a clip ratio per layer and site (learned by --lac), "
                   "which --a-clip / --k-clip / --v-clip cannot override");
  }
  auto const t0 = std::chrono::steady_clock::now();
  bool const packed = e.stored && e.stored->version == pipeline::kInt4ModelFileVersion;
  e.loaded = packed ? load_quantized_file(src.path, *e.stored, e.scheme, src.max_positions, engine_flags,
                                          common.n_threads, e.setup)
                    : load_model(src.path, src.tokenizer, src.max_positions);
  e.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "model: %s (%s), loaded in %.1f s\n", src.path.c_str(),
               model::describe(e.loaded.model->config()).c_str(), e.load_seconds);
  if (unquantized && !e.stored) unquantized(e.loaded);  // before the weights are rewritten
  if (e.stored) {
    e.prepared.online = e.stored->online;
    e.prepared.online.n_threads = common.n_threads;
    std::fprintf(stderr, "model: transformed by dfrot quantize; weights used as stored\n");
  } else {
    e.prepared = prepare_model(e.loaded, e.scheme, src.calib, common.n_threads);
  }
  e.plan = packed ? e.stored->plan
                  : with_learned_clip(plan_quantizer_symmetry(e.loaded, e.scheme, e.prepared.online,
                                                              src.calib, common.n_threads),
                                      e.prepared);
  if (!packed) {
    if (e.stored) std::fprintf(stderr, "model: version-1 file (F32 weights): fake-quant path\n");
    e.setup = setup_engine(e.loaded, e.scheme, e.prepared, e.plan ? &*e.plan : nullptr, engine_flags,
                           common.n_threads);
  }
  if (e.scheme.keep_massive_ratio > 0) keep_massive_tokens(e, src, common.n_threads);
  std::fprintf(stderr, "scheme: %s (prepared in %.1f s)\nengine: %s\n", e.scheme.describe().c_str(),
               e.prepare_seconds(), e.setup.engine.c_str());
  return e;
}

}  // namespace dfrot::app
