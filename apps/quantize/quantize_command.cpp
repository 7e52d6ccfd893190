// SPDX-License-Identifier: Apache-2.0
// `dfrot quantize -m MODEL -o OUT.gguf [quantization flags]`: fuse, rotate and quantize the weights
// once (RTN or GPTQ) and save the result with its run-time scheme (pipeline/model_file.hpp), so
// that `dfrot ppl -m OUT.gguf` evaluates it again without redoing GPTQ.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "common/commands.hpp"
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
};
}  // namespace

CommandAction add_quantize_command(CLI::App& sub, CommonOptions& common) {
  auto o = std::make_shared<QuantizeOptions>();
  sub.add_option("-m,--model", o->model, "model: GGUF file, llama2.c .bin, or HF directory")
      ->required();
  sub.add_option("-o,--output", o->output, "output GGUF file (F32 tensors + dfrot.* scheme keys)")
      ->required();
  sub.add_option("--tokenizer", o->tokenizer,
                 "tokenizer file when the model has none (llama2.c tokenizer.bin)");
  sub.add_option("--calib", o->calib, "GPTQ calibration text (never the evaluated split)")
      ->capture_default_str();
  sub.add_option("-c,--ctx-size", o->max_positions, "positions the model is prepared for")
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
    PreparedModel const prepared = prepare_model(loaded, scheme, o->calib, common.n_threads);
    auto const t1 = std::chrono::steady_clock::now();
    model::LlamaWeights& w = loaded.model->weights();
    w.untie();  // also for --rotate none: the file always carries its own lm_head
    pipeline::write_quantized_model(o->output, w, loaded.tokenizer_data, {scheme, prepared.online});
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
