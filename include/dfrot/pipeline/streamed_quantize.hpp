// SPDX-License-Identifier: Apache-2.0
// quantize_streamed: `dfrot quantize` for models larger than memory. The dense part (embeddings,
// lm_head) is transformed and written first; then each decoder layer is read from the source in
// its file type, converted to FP32, transformed (norms fused, R1 on both sides, V/O, the offline
// halves of the online Hadamards), quantized — RTN, or GPTQ on the calibration activations carried
// from the previous layer (SequentialGptq; in memory or a scratch file) — packed, appended to the
// output and freed. Memory
// stays at the dense part plus one layer, whatever the depth; the output file is byte-identical to
// the in-memory pipeline's (transform_weights → quantize_weights_rtn → make_int4_engine →
// write_int4_model), because both run the same per-part functions on the same shapes.
// An interrupted RTN run leaves `<out>.partial`; `resume` continues it after the last complete
// layer (a GPTQ run starts again: its activations are not kept).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "dfrot/core/error.hpp"
#include "dfrot/eval/calibration.hpp"
#include "dfrot/model/layer_source.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/pipeline/gptq_model.hpp"
#include "dfrot/pipeline/int4_engine.hpp"
#include "dfrot/pipeline/model_file.hpp"
#include "dfrot/pipeline/quantized_model.hpp"

namespace dfrot::pipeline {

/// One finished layer (or the dense part: layer == n_layers).
struct StreamedProgress {
  std::size_t layer = 0;     ///< layers done so far (1-based count after this one)
  std::size_t n_layers = 0;
  bool resumed = false;      ///< found complete in the partial file, not recomputed
  double seconds = 0;        ///< since the start of the run
};

struct StreamedQuantizeOptions {
  int n_threads = 1;
  bool resume = false;  ///< continue `<out>.partial` of an interrupted run with the same settings
  std::function<void(StreamedProgress const&)> progress;
  /// GPTQ: the calibration windows (required), the positions the model is prepared for (≥ the
  /// longest window), where to keep the carried activations (empty: in memory) and group progress.
  eval::CalibrationSet const* calib = nullptr;
  std::size_t max_positions = 2048;
  std::filesystem::path scratch_dir;
  std::function<void(GptqModelProgress const&)> gptq_progress;
};

struct StreamedQuantizeReport {
  bool source_tied = false;
  std::size_t layers_resumed = 0;
  std::size_t file_bytes = 0;
  double dense_seconds = 0;   ///< transform + write of embeddings and lm_head
  double layers_seconds = 0;  ///< read, transform, quantize, pack, write of every layer
  SequentialGptqReport gptq;  ///< GPTQ runs
  std::size_t activation_bytes = 0;  ///< GPTQ: the carried calibration activations
};

/// Why a scheme cannot be quantized layer by layer (empty when it can).
inline std::string streamed_quantize_unsupported(QuantScheme const& s) {
  if (std::string why = int4_engine_unsupported(s); !why.empty()) return why;
  if (s.auto_asym) return "--auto-asym measures every layer's activations on the whole model";
  return {};
}

/// Quantizes `src` with scheme `info.scheme` into a version-2 file at `out` (info.dense: the
/// embeddings' storage; info.online is filled in). \throws UsageError for an unsupported scheme
/// (streamed_quantize_unsupported), the source's FormatError, IoError when writing fails.
inline StreamedQuantizeReport quantize_streamed(model::LayerSource& src, io::TokenizerData const& tok,
                                                std::filesystem::path const& out, QuantizedModelInfo info,
                                                StreamedQuantizeOptions const& o = {}) {
  QuantScheme const& s = info.scheme;
  std::string const why = streamed_quantize_unsupported(s);
  DFROT_THROW_IF(!why.empty(), UsageError, "layer-streamed quantization: ", why);
  bool const gptq = s.w_bits < 16 && s.weight_method == WeightMethod::kGptq;
  DFROT_THROW_IF(gptq && (o.calib == nullptr || o.calib->windows.empty()), UsageError,
                 "GPTQ needs calibration windows (--calib)");
  DFROT_THROW_IF(gptq && o.resume, UsageError, "--resume: a GPTQ run carries its calibration "
                 "activations through every layer and cannot continue a partial file; run it again");
  auto const t0 = std::chrono::steady_clock::now();
  auto since = [](auto t) { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count(); };
  StreamedQuantizeReport report;

  model::LlamaWeights dense = src.dense();
  model::ModelConfig const c = dense.config;  // (a copy: `dense` moves into the GPTQ shell)
  report.source_tied = dense.is_tied();
  WeightTransformPlan const plan = plan_weight_transform(c, s, o.n_threads);
  info.online = plan.online;
  info.version = kInt4ModelFileVersion;
  transform_dense_weights(dense, plan);
  dense.untie();  // also for --rotate none: the file always carries its own lm_head
  model::RowMatrix head_transform = report.source_tied ? tied_head_transform(dense) : model::RowMatrix();
  bool const tied_head = head_transform.size() != 0;

  io::GgufWriter const meta = detail::int4_model_metadata(out, dense, tok, info);
  io::GgufStreamWriter file = meta.stream(
      out, detail::int4_model_specs(c, info.dense, tied_head, !dense.rope_freq_factors.empty()), o.resume);
  report.file_bytes = file.file_bytes();
  std::size_t const n_dense = file.index_of(detail::gguf_layer_name(0, "attn_norm"));
  if (file.written() < n_dense) {
    file.rewind_to(0);  // a torn dense part is written again whole
    DenseMatrix const emb = DenseMatrix::make(dense.tok_embeddings, info.dense, "token_embd");
    DenseMatrix const head = tied_head ? DenseMatrix() : DenseMatrix::make(dense.output, info.dense, "output");
    detail::append_int4_dense(file, dense, emb, head, head_transform);
  }
  dense.output = model::RowMatrix();
  // GPTQ: a model shell holding one decoder layer at a time; the embeddings only until the
  // calibration windows are embedded.
  std::unique_ptr<model::LlamaModel> shell;
  std::unique_ptr<SequentialGptq> sequential;
  QuantizedLinears gptq_codes;
  if (gptq) {
    dense.layers.resize(c.n_layers);
    shell = std::make_unique<model::LlamaModel>(std::move(dense), o.max_positions);
    SequentialGptqOptions g;
    g.gptq = gptq_config(s);
    g.n_threads = o.n_threads;
    g.progress = o.gptq_progress;
    g.codes = &gptq_codes;
    sequential = std::make_unique<SequentialGptq>(*shell, plan.online, *o.calib, g, o.scratch_dir);
    report.activation_bytes = sequential->activations().bytes();
    shell->weights().tok_embeddings = model::RowMatrix();
  }
  dense.tok_embeddings = model::RowMatrix();
  report.dense_seconds = since(t0);
  if (o.progress) o.progress({0, c.n_layers, false, since(t0)});

  auto const t1 = std::chrono::steady_clock::now();
  for (std::size_t l = 0; l < c.n_layers; ++l) {
    std::string const last = str_cat("blk.", l, ".", gguf_stem(static_cast<LinearId>(kLinearIds - 1)), ".row_sums");
    if (file.has(last)) {
      ++report.layers_resumed;
      if (o.progress) o.progress({l + 1, c.n_layers, true, since(t0)});
      continue;
    }
    file.rewind_to(file.index_of(detail::gguf_layer_name(l, "attn_norm")));  // (a torn layer)
    model::LayerWeights layer = src.layer(l);
    transform_layer_weights(layer, c, plan, l);
    std::array<quant::QuantizedTensor, kLinearIds> codes;
    if (gptq) {
      shell->weights().layers[l] = std::move(layer);
      sequential->quantize_layer(l);
      layer = std::move(shell->weights().layers[l]);
      shell->weights().layers[l] = model::LayerWeights();
      codes = std::move(gptq_codes.layers[l]);
    } else {
      quantize_layer_rtn(layer, s, o.n_threads, &codes);
    }
    PackedLayer packed;
    for (std::size_t i = 0; i < kLinearIds; ++i) {
      packed[i] = gemm::PackedInt4Weights::from_quantized(
          codes[i], str_cat("blk.", l, ".", gguf_stem(static_cast<LinearId>(i))));
    }
    detail::append_int4_layer(file, l, layer, packed);
    if (o.progress) o.progress({l + 1, c.n_layers, false, since(t0)});
  }
  file.commit();
  report.layers_seconds = since(t1);
  if (sequential) report.gptq = sequential->report();
  return report;
}

}  // namespace dfrot::pipeline
