// SPDX-License-Identifier: Apache-2.0
// `dfrot quantize -m MODEL -o OUT.gguf [quantization flags]`: fuse, rotate and quantize the weights
// once (RTN or GPTQ) and save the result with its run-time scheme (pipeline/model_file.hpp), so
// that `dfrot ppl -m OUT.gguf` evaluates it again without redoing GPTQ.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "common/commands.hpp"
#include "common/engine_setup.hpp"
#include "common/inference_model.hpp"
#include "common/model_loading.hpp"
#include "common/prepare.hpp"
#include "common/quant_flags.hpp"
#include "common/report.hpp"
#include "common/peak_memory.hpp"
#include "common/stopwatch.hpp"
#include "dfrot/io/file_read.hpp"
#include "dfrot/tokenizer/tokenizer.hpp"
#include "dfrot/model/open_layer_source.hpp"
#include "dfrot/pipeline/model_file.hpp"
#include "dfrot/pipeline/streamed_quantize.hpp"

namespace dfrot::app {

namespace {
struct QuantizeOptions {
  std::string model;
  std::string output;
  std::string tokenizer;
  std::string calib = default_calibration_text();
  std::size_t max_positions = 2048;
  std::string format = "int4";
  std::string dense = "f16";
  std::string pipeline = "auto";
  bool resume = false;
  std::string scratch;
  double checkpoint_seconds = 600;
};

int quantize_streamed(QuantizeOptions const& o, pipeline::QuantScheme const& scheme,
                      CommonOptions const& common) {
  auto const t0 = std::chrono::steady_clock::now();
  std::unique_ptr<model::LayerSource> const source = model::open_layer_source(o.model);
  model::LayerSource& src = *source;
  double const load_s = seconds_since(t0);
  DFROT_THROW_IF(!src.tokenizer(), UsageError, "model '", o.model, "' carries no tokenizer");
  std::fprintf(stderr, "model: %s (%s), %.2f GB stored, opened in %.1f s (streamed: one layer at a time)\n"
               "scheme: %s\n", o.model.c_str(), model::describe(src.config()).c_str(),
               double(src.stored_bytes()) / 1e9, load_s, scheme.describe().c_str());
  pipeline::QuantizedModelInfo info;
  info.scheme = scheme;
  info.dense = pipeline::parse_dense_type(o.dense);
  info.chat_template = read_chat_template(o.model);
  pipeline::StreamedQuantizeOptions so;
  so.n_threads = common.n_threads;
  so.resume = o.resume;
  so.checkpoint_seconds = o.checkpoint_seconds;
  so.max_positions = o.max_positions;
  eval::CalibrationSet calib;
  if (scheme.w_bits < 16 && scheme.weight_method == pipeline::WeightMethod::kGptq) {
    tokenizer::Tokenizer const tok(*src.tokenizer());
    calib = load_calibration(tok, o.calib, scheme.calib);
    so.calib = &calib;
    std::size_t const bytes = calib.n_tokens() * src.config().hidden * sizeof(float);
    long const pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    double const ram = pages > 0 && page > 0 ? double(pages) * double(page) : 0;
    so.scratch_dir = o.scratch;
    if (so.scratch_dir.empty() && ram > 0 && double(bytes) > 0.5 * ram)
      so.scratch_dir = std::filesystem::absolute(o.output).parent_path();
    std::fprintf(stderr, "calibration activations: %.2f GB, %s\n", double(bytes) / 1e9,
                 so.scratch_dir.empty() ? "in memory"
                                        : str_cat("in a scratch file in ", so.scratch_dir.string()).c_str());
  }
  // One progress line: the layer, its GPTQ stage (if any), time, ETA from the fresh layers' pace.
  std::size_t fresh_done = 0;
  double fresh_start = 0;
  auto progress_line = [&](std::size_t layer, std::size_t n_layers, std::size_t left, std::string const& stage,
                           double seconds) {
    // No ETA until a layer has finished in this run (the first layer's stages have no pace yet).
    std::string const eta =
        fresh_done ? str_cat(static_cast<long long>(std::lround((seconds - fresh_start) /
                                                                double(fresh_done) * double(left))),
                             " s")
                   : std::string("?");
    std::fprintf(stderr, "\rquantize: layer %zu/%zu %-22s %6.0f s  ETA %8s  peak RSS %.2f GB ",
                 layer, n_layers, stage.c_str(), seconds, eta.c_str(), double(peak_rss_bytes()) / 1e9);
    std::fflush(stderr);
  };
  so.progress = [&](pipeline::StreamedProgress const& p) {
    if (p.layer == 0) {
      std::fprintf(stderr, "embeddings + lm_head%s: %.1f s\n", so.calib ? " + calibration embedding" : "", p.seconds);
      fresh_start = p.seconds;
      return;
    }
    if (p.resumed) {
      fresh_start = p.seconds;
    } else {
      ++fresh_done;
    }
    progress_line(p.layer, p.n_layers, p.n_layers - p.layer,
                  p.resumed ? "(resumed)" : p.checkpointed ? "done, checkpoint" : "done", p.seconds);
    if (p.layer == p.n_layers) std::fputc('\n', stderr);
  };
  if (so.calib != nullptr) {
    so.gptq_progress = [&](pipeline::GptqModelProgress const& p) {
      progress_line(p.layer + 1, p.n_layers, p.n_layers - p.layer, str_cat("gptq ", pipeline::to_string(p.group)),
                    p.seconds);
    };
  }
  pipeline::StreamedQuantizeReport const r =
      pipeline::quantize_streamed(src, *src.tokenizer(), o.output, info, so);
  std::fprintf(stderr, "%s: %.1f MB%s\n", o.output.c_str(), double(r.file_bytes) / 1e6,
               r.layers_resumed ? str_cat(", ", r.layers_resumed, " layers resumed").c_str() : "");
  Report report({"scheme", "pipeline", "output", "bytes", "load_s", "transform_s", "quantize_s",
                 "write_s", "peak_rss_MB"});
  report.set("model", o.model);
  report.set("seed", scheme.seed);
  report.set("threads", common.n_threads);
  report.set("layers_resumed", r.layers_resumed);
  if (!r.gptq.linears.empty()) {
    report.set("gptq_linears", r.gptq.linears.size());
    report.set("gptq_calibration_tokens", r.gptq.n_tokens);
    report.set("gptq_hessian_s", r.gptq.hessian_seconds);
    report.set("gptq_solve_s", r.gptq.solve_seconds);
    report.set("calibration_activation_MB", double(r.activation_bytes) / 1e6);
    report.set("scratch", so.scratch_dir.string());
    report.set("checkpoints", r.checkpoints);
    report.set("checkpoint_s", r.checkpoint_seconds);
  }
  report.set("timing", "streamed: transform_s is the embeddings and lm_head, quantize_s every layer "
                       "(read, transform, RTN or GPTQ, pack, write)");
  report.add_row({scheme.describe(), "streamed", o.output, std::filesystem::file_size(o.output), load_s,
                  r.dense_seconds, r.layers_seconds, nullptr, double(peak_rss_bytes()) / 1e6});
  report.print(common.json);
  return 0;
}

}  // namespace

CommandAction add_quantize_command(CLI::App& sub, CommonOptions& common) {
  auto o = std::make_shared<QuantizeOptions>();
  sub.add_option("-m,--model", o->model, "model: GGUF file, llama2.c .bin, or HF directory")
      ->required();
  sub.add_option("-o,--output", o->output, "output GGUF file (dfrot.* scheme keys + weights)")
      ->required();
  sub.add_option("--format", o->format,
                 "int4: packed 4-bit codes for the int4 engine (version 2); f32: dequantized F32 "
                 "weights, readable by llama.cpp-style tools, fake-quant path only (version 1)")
      ->check(CLI::IsMember({"int4", "f32"}))
      ->capture_default_str();
  sub.add_option("--dense", o->dense, "int4 format: embeddings / lm_head storage")
      ->check(CLI::IsMember({"f16", "q8", "f32"}))
      ->capture_default_str();
  sub.add_option("--tokenizer", o->tokenizer,
                 "tokenizer file when the model has none (llama2.c tokenizer.bin)");
  sub.add_option("--calib", o->calib, "GPTQ calibration text (never the evaluated split)")
      ->capture_default_str();
  sub.add_option("-c,--ctx-size", o->max_positions, "positions the model is prepared for")
      ->check(CLI::Range(std::size_t{1}, model::kMaxPositions))
      ->capture_default_str();
  sub.add_option("--pipeline", o->pipeline,
                 "streamed: read, transform, quantize and write one layer at a time (memory: the "
                 "embeddings plus one layer; GGUF or Hugging Face source, --format int4); in-memory: load the "
                 "whole FP32 model (GPTQ, --auto-asym, any source); auto: streamed when possible")
      ->check(CLI::IsMember({"auto", "streamed", "in-memory"}))
      ->capture_default_str();
  sub.add_flag("--resume", o->resume,
               "streamed: continue OUT.partial left by an interrupted run with the same settings (GPTQ: "
               "from the last layer whose outputs were saved to OUT.partial.calib)");
  sub.add_option("--checkpoint-every", o->checkpoint_seconds,
                 "streamed GPTQ: seconds between saves of the carried calibration activations to "
                 "OUT.partial.calib, for --resume (0: after every layer; they take as much disk as the "
                 "activations)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub.add_option("--scratch", o->scratch,
                 "streamed GPTQ: keep the calibration activations carried between layers in a file "
                 "in this folder instead of memory (default: memory, or the output's folder when "
                 "they would take more than half of the RAM)");
  QuantFlags const flags = add_quant_flags(sub);
  return [o, flags, &common]() {
    DFROT_THROW_IF(pipeline::read_quantized_model_info(o->model).has_value(), UsageError,
                   "model '", o->model, "' was already transformed by dfrot quantize");
    pipeline::QuantScheme const scheme = flags.scheme(common.seed);
    DFROT_THROW_IF(scheme.gptq.learn_act_clip && o->format != "int4", UsageError,
                   "--lac: a --format f32 file has no place for the learned clip ratios (use --format int4)");
    std::error_code ec;
    DFROT_THROW_IF(std::filesystem::equivalent(o->model, o->output, ec), UsageError, "--output '",
                   o->output, "' would overwrite the input model");
    std::string const stream_why =
        o->format != "int4" ? std::string("--format f32 is written from the whole model")
        : !model::has_layer_source(o->model) ? std::string("the model is neither a GGUF file nor a Hugging Face directory")
        : !o->tokenizer.empty() ? std::string("--tokenizer is given")
                                : pipeline::streamed_quantize_unsupported(scheme);
    DFROT_THROW_IF(o->pipeline == "streamed" && !stream_why.empty(), UsageError,
                   "--pipeline streamed: ", stream_why, " (use --pipeline in-memory)");
    bool const streamed = o->pipeline != "in-memory" && stream_why.empty();
    DFROT_THROW_IF(!o->scratch.empty() && !streamed, UsageError, "--scratch is for a streamed run (",
                   o->pipeline == "in-memory" ? std::string("--pipeline in-memory") : stream_why, ")");
    DFROT_THROW_IF(o->resume && !streamed, UsageError, "--resume continues a streamed run only (",
                   o->pipeline == "in-memory" ? std::string("--pipeline in-memory") : stream_why, ")");
    if (streamed) return quantize_streamed(*o, scheme, common);
    auto const t0 = std::chrono::steady_clock::now();
    LoadedModel loaded = load_model(o->model, o->tokenizer, o->max_positions);
    double const load_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "model: %s (%s), loaded in %.1f s\nscheme: %s\n", o->model.c_str(),
                 model::describe(loaded.model->config()).c_str(), load_s, scheme.describe().c_str());
    PreparedModel prepared = prepare_model(loaded, scheme, o->calib, common.n_threads);
    auto const t1 = std::chrono::steady_clock::now();
    model::LlamaWeights& w = loaded.model->weights();
    w.untie();  // also for --rotate none: the file always carries its own lm_head
    pipeline::QuantizedModelInfo info;
    info.scheme = scheme;
    info.online = prepared.online;
    info.chat_template = read_chat_template(o->model);
    if (o->format == "int4") {
      std::string const why = pipeline::int4_engine_unsupported(scheme);
      DFROT_THROW_IF(!why.empty(), UsageError, "--format int4: ", why, " (use --format f32)");
      info.version = pipeline::kInt4ModelFileVersion;
      info.plan = with_learned_clip(
          plan_quantizer_symmetry(loaded, scheme, prepared.online, o->calib, common.n_threads), prepared);
      info.dense = pipeline::parse_dense_type(o->dense);
      auto const engine = pipeline::make_int4_engine(
          w, prepared.codes, scheme, info.plan ? &*info.plan : nullptr, info.dense,
          prepared.source_tied ? pipeline::tied_head_transform(w) : model::RowMatrix());
      std::fprintf(stderr, "int4 file: decoder linears %.1f MB, embeddings%s %.1f MB\n",
                   double(engine->linear_bytes()) / 1e6, engine->tied() ? " (lm_head tied)" : " + lm_head",
                   double(engine->dense_bytes()) / 1e6);
      pipeline::write_int4_model(o->output, w, *engine, loaded.tokenizer_data, info);
    } else {
      pipeline::write_quantized_model(o->output, w, loaded.tokenizer_data, info);
    }
    double const write_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    Report report({"scheme", "pipeline", "output", "bytes", "load_s", "transform_s", "quantize_s",
                   "write_s", "peak_rss_MB"});
    report.set("model", o->model);
    report.set("seed", scheme.seed);
    report.set("threads", common.n_threads);
    if (!prepared.gptq.linears.empty()) {
      report.set("gptq_linears", prepared.gptq.linears.size());
      report.set("gptq_calibration_tokens", prepared.gptq.n_tokens);
      report.set("gptq_hessian_s", prepared.gptq.hessian_seconds);
      report.set("gptq_solve_s", prepared.gptq.solve_seconds);
    }
    report.add_row({scheme.describe(), "in-memory", o->output, std::filesystem::file_size(o->output),
                    load_s, prepared.transform_seconds, prepared.quantize_seconds, write_s,
                    double(peak_rss_bytes()) / 1e6});
    report.print(common.json);
    return 0;
  };
}

}  // namespace dfrot::app
