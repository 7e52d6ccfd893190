// SPDX-License-Identifier: Apache-2.0
// `dfrot ppl -m MODEL -f TEXT [-c 2048] [--chunks N] [-t N] [--json]`: perplexity by the papers'
// protocol (flag names follow llama.cpp's llama-perplexity).
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

#include "common/commands.hpp"
#include "common/engine_setup.hpp"
#include "common/evaluation_model.hpp"
#include "common/model_loading.hpp"
#include "common/quant_flags.hpp"
#include "common/report.hpp"
#include "dfrot/eval/perplexity.hpp"
#include "dfrot/pipeline/model_file.hpp"
#include "dfrot/pipeline/quantized_model.hpp"

namespace dfrot::app {

namespace {
struct PplOptions {
  std::string model;
  std::string text;
  std::string tokenizer;
  std::string calib = default_calibration_text();
  std::size_t ctx = 2048;
  long chunks = -1;
  bool with_fp = false;
};
}  // namespace

CommandAction add_ppl_command(CLI::App& sub, CommonOptions& common) {
  auto o = std::make_shared<PplOptions>();
  sub.add_option("-m,--model", o->model, "model: GGUF file, llama2.c .bin, or HF directory")
      ->required();
  sub.add_option("-f,--file", o->text, "text to evaluate, read as-is (e.g. wiki.test.raw)")
      ->required();
  sub.add_option("--tokenizer", o->tokenizer,
                 "tokenizer file when the model has none (llama2.c tokenizer.bin)");
  sub.add_option("-c,--ctx-size", o->ctx, "tokens per window")
      ->check(CLI::Range(std::size_t{2}, model::kMaxPositions))
      ->capture_default_str();
  sub.add_option("--chunks", o->chunks, "windows to evaluate (-1 = all)")->capture_default_str();
  sub.add_option("--calib", o->calib, "GPTQ calibration text (never the evaluated split)")
      ->capture_default_str();
  sub.add_flag("--with-fp", o->with_fp,
               "also evaluate the unquantized model on the same windows and report both");
  QuantFlags const flags = add_quant_flags(sub);
  auto engine_flags = std::make_shared<EngineFlags>();
  add_engine_flags(sub, *engine_flags);
  return [o, flags, engine_flags, &common]() {
    std::string const text = read_text(o->text);
    eval::PerplexityOptions const popt{.ctx = o->ctx, .chunks = o->chunks, .n_threads = common.n_threads};
    auto const show = [](eval::PerplexityProgress const& p) {
      std::fprintf(stderr, "\r[%zu/%zu] ppl %.4f  %.0f tok/s", p.window, p.n_windows, p.ppl,
                   p.tokens_per_second);
      std::fflush(stderr);
    };
    std::vector<int> tokens;
    std::optional<eval::PerplexityResult> fp;
    auto const tokenize = [&](LoadedModel const& m) {
      if (!tokens.empty()) return;
      tokens = m.tokenizer->encode(text, /*add_bos=*/true);
      std::fprintf(stderr, "text: %s, %zu bytes, %zu tokens\n", o->text.c_str(), text.size(),
                   tokens.size());
    };
    EvaluationModel e = load_evaluation_model(
        {o->model, o->tokenizer, o->calib, o->ctx}, flags, *engine_flags, common,
        [&](LoadedModel& m) {
          tokenize(m);
          if (!o->with_fp) return;
          std::fprintf(stderr, "baseline: unquantized model\n");
          fp = eval::perplexity(*m.model, tokens, popt, nullptr, show);
          std::fprintf(stderr, "\n");
        });
    tokenize(e.loaded);
    pipeline::QuantScheme const& scheme = e.scheme;
    PreparedModel const& prepared = e.prepared;
    std::optional<pipeline::QuantizerPlan> const& plan = e.plan;
    EngineSetup const& setup = e.setup;
    LoadedModel& loaded = e.loaded;
    double const prepare_s = e.prepare_seconds();
    auto const result = eval::perplexity(*loaded.model, tokens, popt, setup.hooks.get(), show);
    std::fprintf(stderr, "\n");
    Report report({"scheme", "ppl", "windows", "predictions", "tokens", "prepare_s", "eval_s"});
    report.set("model", o->model);
    report.set("text", o->text);
    report.set("ctx", o->ctx);
    report.set("threads", common.n_threads);
    report.set("seed", scheme.seed);
    report.set("engine", setup.engine);
    report.set("transform_s", prepared.transform_seconds);
    report.set("quantize_s", prepared.quantize_seconds);
    if (plan) {
      nlohmann::json asym = nlohmann::json::object();
      for (std::size_t i = 0; i < pipeline::kQuantSites; ++i) {
        auto const site = static_cast<pipeline::QuantSite>(i);
        asym[std::string(pipeline::to_string(site))] = plan->count_asym(site);
      }
      report.set("auto_asym_layers", asym);
    }
    if (e.kept) {
      std::size_t seen = 0;
      for (std::size_t n : e.kept->seen_rows) seen += n;
      report.set("kept_tokens_per_window", kept_per_sequence(*e.kept, result.n_windows));
      report.set("kept_rows_fraction", seen ? double(e.kept->total_kept()) / double(seen) : 0.0);
    }
    if (fp) {
      report.add_row({"FP32 (unquantized)", fp->ppl, fp->n_windows, fp->n_predictions, fp->n_tokens,
                      0.0, fp->seconds});
      report.set("fp_ppl", fp->ppl);
      report.set("ppl_increase", result.ppl - fp->ppl);
    }
    report.add_row({scheme.describe(), result.ppl, result.n_windows, result.n_predictions,
                    result.n_tokens, prepare_s, result.seconds});
    report.print(common.json);
    return 0;
  };
}

}  // namespace dfrot::app
