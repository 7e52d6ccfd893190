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
// An interrupted run leaves `<out>.partial`; `resume` continues it. RTN continues after the last
// complete layer; GPTQ after the last layer whose outputs — the next layer's calibration inputs —
// were saved to `<out>.partial.calib` (CalibrationCheckpoint, at most every checkpoint_seconds),
// since a layer's GPTQ needs every earlier layer's effect on the activations.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "dfrot/core/error.hpp"
#include "dfrot/eval/calibration.hpp"
#include "dfrot/model/layer_source.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/pipeline/calibration_checkpoint.hpp"
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
  bool checkpointed = false; ///< GPTQ: the next layer's inputs were saved after this one
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
  /// GPTQ: save the carried activations after a layer once this many seconds have passed since
  /// the last save (0: after every layer), so that `resume` loses at most that much work.
  double checkpoint_seconds = 600;
};

struct StreamedQuantizeReport {
  bool source_tied = false;
  std::size_t layers_resumed = 0;
  std::size_t file_bytes = 0;
  double dense_seconds = 0;   ///< transform + write of embeddings and lm_head
  double layers_seconds = 0;  ///< read, transform, quantize, pack, write of every layer
  SequentialGptqReport gptq;  ///< GPTQ runs
  std::size_t activation_bytes = 0;  ///< GPTQ: the carried calibration activations
  std::size_t checkpoints = 0;       ///< GPTQ: activation checkpoints saved
  double checkpoint_seconds = 0;     ///< … and the time they took
};

/// Why a scheme cannot be quantized layer by layer (empty when it can).
inline std::string streamed_quantize_unsupported(QuantScheme const& s) {
  if (std::string why = int4_engine_unsupported(s); !why.empty()) return why;
  if (s.auto_asym) return "--auto-asym measures every layer's activations on the whole model";
  if (s.gptq.learn_act_clip) return "--lac stores clip ratios learned over every layer in the file's header";
  if (s.gptq.fp_target) return "--gptq-fp-target carries a second set of activations that a checkpoint does not hold";
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
  if (tied_head) dense.output = model::RowMatrix();  // (the file stores the transform instead)

  io::GgufWriter const meta = detail::int4_model_metadata(out, dense, tok, info);
  io::GgufStreamWriter file = meta.stream(
      out, detail::int4_model_specs(c, info.dense, tied_head, !dense.rope_freq_factors.empty()), o.resume);
  report.file_bytes = file.file_bytes();
  {  // A run of hours should not die of a full disk at its last layer: check before the first.
    std::error_code ec;
    std::uintmax_t const have = std::filesystem::file_size(file.partial_path(), ec);
    std::filesystem::path const folder = std::filesystem::absolute(file.partial_path()).parent_path();
    std::filesystem::space_info const space = std::filesystem::space(folder, ec);
    std::uintmax_t const need = report.file_bytes - std::min<std::uintmax_t>(have, report.file_bytes);
    auto gb = [](std::uintmax_t b) {
      char text[32];
      if (b >= 1000000000u) std::snprintf(text, sizeof text, "%.2f GB", double(b) / 1e9);
      else std::snprintf(text, sizeof text, "%.1f MB", double(b) / 1e6);
      return std::string(text);
    };
    DFROT_THROW_IF(!ec && space.available < need, IoError, "'", out.string(), "' needs ", gb(report.file_bytes),
                   " (", gb(need), " more), ", gb(space.available), " free there");
  }
  auto layer_start = [&](std::size_t l) { return file.index_of(detail::gguf_layer_name(l, "attn_norm")); };
  auto layer_complete = [&](std::size_t l) {
    return file.has(str_cat("blk.", l, ".", gguf_stem(static_cast<LinearId>(kLinearIds - 1)), ".row_sums"));
  };
  CalibrationCheckpoint const checkpoint(file.partial_path().string() + ".calib");
  if (!o.resume) checkpoint.remove();  // (a stale one of an earlier run)
  std::size_t const n_dense = layer_start(0);
  if (file.written() < n_dense) {
    file.rewind_to(0);  // a torn dense part is written again whole
    // Each FP32 matrix is freed once stored (a 128k vocabulary: 2.1 GB each at d 4096).
    DenseMatrix const emb = DenseMatrix::make(dense.tok_embeddings, info.dense, "token_embd");
    if (!gptq) dense.tok_embeddings = model::RowMatrix();  // (GPTQ embeds its calibration windows)
    DenseMatrix const head = tied_head ? DenseMatrix() : DenseMatrix::make(dense.output, info.dense, "output");
    dense.output = model::RowMatrix();
    detail::append_int4_dense(file, dense, emb, head, head_transform);
  }
  dense.output = model::RowMatrix();
  // GPTQ: a model shell holding one decoder layer at a time; the embeddings only until the
  // calibration windows are embedded.
  std::unique_ptr<model::LlamaModel> shell;
  std::unique_ptr<SequentialGptq> sequential;
  QuantizedLinears gptq_codes;
  std::uint64_t fingerprint = 0;
  std::size_t first_gptq_layer = 0;  // GPTQ: the layers before it are complete and their outputs restored
  if (gptq) {
    dense.layers.resize(c.n_layers);
    shell = std::make_unique<model::LlamaModel>(std::move(dense), o.max_positions);
    SequentialGptqOptions g;
    g.gptq = gptq_config(s);
    g.scheme = s;
    g.calibration = s.gptq;
    g.n_threads = o.n_threads;
    g.progress = o.gptq_progress;
    g.codes = &gptq_codes;
    sequential = std::make_unique<SequentialGptq>(*shell, plan.online, *o.calib, g, o.scratch_dir);
    report.activation_bytes = sequential->activations().bytes();
    shell->weights().tok_embeddings = model::RowMatrix();
    fingerprint = calibration_fingerprint(*o.calib);
    if (o.resume) {
      std::optional<std::size_t> const saved = checkpoint.saved_layer(fingerprint, sequential->activations());
      DFROT_THROW_IF(saved && (*saved == 0 || *saved >= c.n_layers), FormatError, "calibration checkpoint '",
                     checkpoint.path().string(), "' holds the inputs of layer ", *saved, " of a ", c.n_layers,
                     "-layer model (damaged); remove it");
      // (A checkpoint ahead of the file's layers — the file lost its tail — is not continued.)
      if (saved && layer_complete(*saved - 1)) {
        sequential->resume_at(*saved, [&](CalibrationActivations& xs) { checkpoint.load(xs); });
        first_gptq_layer = *saved;
      }
    }
    // The layers after the checkpoint are computed again: their inputs were not kept.
    file.rewind_to(layer_start(first_gptq_layer));
  }
  dense.tok_embeddings = model::RowMatrix();
  report.dense_seconds = since(t0);
  if (o.progress) o.progress({0, c.n_layers, false, false, since(t0)});

  auto const t1 = std::chrono::steady_clock::now();
  auto last_checkpoint = t1;
  for (std::size_t l = 0; l < c.n_layers; ++l) {
    if (gptq ? l < first_gptq_layer : layer_complete(l)) {
      ++report.layers_resumed;
      if (o.progress) o.progress({l + 1, c.n_layers, true, false, since(t0)});
      continue;
    }
    file.rewind_to(layer_start(l));  // (a torn layer)
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
    bool checkpointed = false;
    if (gptq && l + 1 < c.n_layers && since(last_checkpoint) >= o.checkpoint_seconds) {
      auto const tc = std::chrono::steady_clock::now();
      file.flush();  // the checkpoint is never ahead of the layers the file holds
      checkpoint.save(sequential->activations(), l + 1, fingerprint);
      ++report.checkpoints;
      report.checkpoint_seconds += since(tc);
      last_checkpoint = std::chrono::steady_clock::now();
      checkpointed = true;
    }
    if (o.progress) o.progress({l + 1, c.n_layers, false, checkpointed, since(t0)});
  }
  file.commit();
  checkpoint.remove();
  report.layers_seconds = since(t1);
  if (sequential) report.gptq = sequential->report();
  return report;
}

}  // namespace dfrot::pipeline
