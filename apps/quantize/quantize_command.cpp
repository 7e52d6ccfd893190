// SPDX-License-Identifier: Apache-2.0
// `dfrot quantize -m MODEL -o OUT.gguf [quantization flags]`: fuse, rotate and quantize the weights
// once (RTN or GPTQ) and save the result with its run-time scheme (pipeline/model_file.hpp), so
// that `dfrot ppl -m OUT.gguf` evaluates it again without redoing GPTQ.
#include <chrono>
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
#include "dfrot/pipeline/model_file.hpp"

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
};
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
  QuantFlags const flags = add_quant_flags(sub);
  return [o, flags, &common]() {
    DFROT_THROW_IF(pipeline::read_quantized_model_info(o->model).has_value(), UsageError,
                   "model '", o->model, "' was already transformed by dfrot quantize");
    pipeline::QuantScheme const scheme = flags.scheme(common.seed);
    std::error_code ec;
    DFROT_THROW_IF(std::filesystem::equivalent(o->model, o->output, ec), UsageError, "--output '",
                   o->output, "' would overwrite the input model");
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
      info.plan = plan_quantizer_symmetry(loaded, scheme, prepared.online, o->calib, common.n_threads);
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
    Report report({"scheme", "output", "bytes", "transform_s", "quantize_s", "write_s"});
    report.set("model", o->model);
    report.set("seed", scheme.seed);
    report.set("threads", common.n_threads);
    if (!prepared.gptq.linears.empty()) {
      report.set("gptq_linears", prepared.gptq.linears.size());
      report.set("gptq_calibration_tokens", prepared.gptq.n_tokens);
      report.set("gptq_hessian_s", prepared.gptq.hessian_seconds);
      report.set("gptq_solve_s", prepared.gptq.solve_seconds);
    }
    report.add_row({scheme.describe(), o->output, std::filesystem::file_size(o->output),
                    prepared.transform_seconds, prepared.quantize_seconds, write_s});
    report.print(common.json);
    return 0;
  };
}

}  // namespace dfrot::app
