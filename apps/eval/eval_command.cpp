// SPDX-License-Identifier: Apache-2.0
// `dfrot eval -m MODEL --tasks piqa,winogrande,arc_easy,arc_challenge,lambada [scheme flags]
// [--limit N] [--json]`: lm-eval 0.4 zero-shot accuracies (with standard errors) of a model on
// any engine — FP, fake quantization or a quantized file on the int4 engine.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/commands.hpp"
#include "common/engine_setup.hpp"
#include "common/evaluation_model.hpp"
#include "common/quant_flags.hpp"
#include "common/report.hpp"
#include "dfrot/eval/zeroshot.hpp"

namespace dfrot::app {

namespace {
struct EvalOptions {
  std::string model;
  std::string tokenizer;
  std::vector<std::string> tasks = {"piqa", "winogrande", "arc_easy", "arc_challenge", "lambada_openai"};
  std::string data_dir = (std::filesystem::path(shared_dir()) / "data" / "zeroshot").string();
  std::string calib = default_calibration_text();
  std::size_t limit = 0;
  std::size_t max_length = 2048;
  std::size_t batch_rows = 1024;
  bool bos = false;
};

std::string format_duration(double s) {
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  }
  return buf;
}

nlohmann::json estimate_json(eval::Estimate const& e) {
  return {{"value", e.value}, {"stderr", std::isnan(e.se) ? nlohmann::json() : nlohmann::json(e.se)}};
}
}  // namespace

CommandAction add_eval_command(CLI::App& sub, CommonOptions& common) {
  auto o = std::make_shared<EvalOptions>();
  sub.add_option("-m,--model", o->model, "model: GGUF file, llama2.c .bin, HF directory, or a file of dfrot quantize")
      ->required();
  sub.add_option("--tokenizer", o->tokenizer,
                 "tokenizer file when the model has none (llama2.c tokenizer.bin)");
  sub.add_option("--tasks", o->tasks,
                 "comma-separated lm-eval tasks: piqa, winogrande, arc_easy, arc_challenge, "
                 "lambada_openai (= lambada); hellaswag's data is not available here")
      ->delimiter(',')
      ->capture_default_str();
  sub.add_option("--data-dir", o->data_dir, "folder of the task files (<task>.jsonl)")
      ->capture_default_str();
  sub.add_option("--limit", o->limit, "first N documents of each task (0 = all)")
      ->capture_default_str();
  sub.add_option("--max-length", o->max_length,
                 "lm-eval max_length: longer requests lose their oldest context tokens")
      ->check(CLI::Range(std::size_t{2}, model::kMaxPositions))
      ->capture_default_str();
  sub.add_option("--batch-rows", o->batch_rows, "forward rows per batch of requests")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 16))
      ->capture_default_str();
  sub.add_flag("--bos", o->bos, "add BOS before every context (lm-eval adds none for causal models)");
  sub.add_option("--calib", o->calib, "GPTQ calibration text (never an evaluated split)")
      ->capture_default_str();
  QuantFlags const flags = add_quant_flags(sub);
  auto engine_flags = std::make_shared<EngineFlags>();
  add_engine_flags(sub, *engine_flags);
  return [o, flags, engine_flags, &common]() {
    // Every task and file is checked before the (slow) model preparation.
    std::vector<eval::ZeroShotTask const*> tasks;
    std::vector<std::vector<eval::ZeroShotDoc>> docs;
      for (std::string const& name : o->tasks) {
      if (name == "hellaswag") {
        std::fprintf(stderr, "hellaswag: its data is not available here; reported as n/a\n");
        continue;
      }
      tasks.push_back(&eval::find_zeroshot_task(name));
      docs.push_back(eval::load_zeroshot_docs(*tasks.back(),
                                              std::filesystem::path(o->data_dir) / tasks.back()->file,
                                              o->limit));
    }
    DFROT_THROW_IF(tasks.empty(), UsageError, "eval: no task to run");
    EvaluationModel e = load_evaluation_model({o->model, o->tokenizer, o->calib, o->max_length}, flags,
                                              *engine_flags, common);
    eval::ZeroShotOptions const zopt{
        .loglikelihood = {.max_length = o->max_length, .batch_rows = o->batch_rows,
                          .n_threads = common.n_threads},
        .add_bos = o->bos};
    Report report({"task", "metric", "value", "stderr", "docs", "requests", "rows", "eval_s"});
    report.set("model", o->model);
    report.set("scheme", e.scheme.describe());
    report.set("engine", e.setup.engine);
    report.set("seed", e.scheme.seed);
    report.set("threads", common.n_threads);
    report.set("limit", o->limit);
    report.set("bos", o->bos);
    report.set("prepare_s", e.prepare_seconds());
    std::vector<std::pair<eval::ZeroShotTask const*, eval::TaskScores>> scored;
    double total_s = 0;
    nlohmann::json kept = nlohmann::json::object();  // --keep-massive-tokens: rows kept per request
    for (std::size_t t = 0; t < tasks.size(); ++t) {
      eval::ZeroShotTask const& task = *tasks[t];
      auto const show = [&](eval::LoglikelihoodProgress const& p) {
        double const eta = p.done ? p.seconds * double(p.total - p.done) / double(p.done) : 0;
        std::fprintf(stderr, "\r%s: %zu/%zu requests, %.0f rows/s, ETA %s   ", std::string(task.name).c_str(),
                     p.done, p.total, double(p.rows) / std::max(p.seconds, 1e-9),
                     format_duration(eta).c_str());
        std::fflush(stderr);
      };
      if (e.kept) e.kept->reset_counts();
      eval::ZeroShotResult const r =
          eval::evaluate_zeroshot(*e.loaded.model, *e.loaded.tokenizer, task, docs[t], zopt,
                                  e.setup.hooks.get(), show);
      std::fprintf(stderr, "\r%s: %zu documents in %s%30s\n", std::string(task.name).c_str(),
                   r.scores.n_docs, format_duration(r.seconds).c_str(), "");
      total_s += r.seconds;
      auto row = [&](char const* metric, eval::Estimate const& est) {
        report.add_row({std::string(task.name), metric, est.value,
                        std::isnan(est.se) ? nlohmann::json() : nlohmann::json(est.se), r.scores.n_docs,
                        r.n_requests, r.n_rows, r.seconds});
      };
      row("acc", r.scores.acc);
      if (r.scores.acc_norm) row("acc_norm", *r.scores.acc_norm);
      if (r.scores.ppl) row("ppl", *r.scores.ppl);
      scored.emplace_back(&task, r.scores);
      if (e.kept) kept[std::string(task.name)] = kept_per_sequence(*e.kept, r.n_requests);
    }
    // DFRot README's layout: PQ WG HS A-e A-c LA Avg (acc; acc_norm for ARC-c; HS n/a here).
    std::vector<std::string> columns = {"scheme"};
    std::vector<nlohmann::json> cells = {e.scheme.describe()};
    nlohmann::json paper = nlohmann::json::object();
    double sum = 0;
    std::size_t n = 0;
    for (eval::ZeroShotTask const& task : eval::kZeroShotTasks) {
      if (task.name == "arc_easy") {  // HellaSwag's column sits before ARC in DFRot's table
        columns.emplace_back("HS");
        cells.emplace_back("n/a");
        paper["HS"] = nullptr;
      }
      for (auto const& [t, s] : scored) {
        if (t->name != task.name) continue;
        eval::Estimate const p = s.paper();
        columns.emplace_back(task.column);
        char buf[48];
        std::snprintf(buf, sizeof buf, "%.2f ± %.2f", 100 * p.value, 100 * p.se);
        cells.emplace_back(buf);
        paper[std::string(task.column)] = estimate_json(p);
        sum += p.value;
        ++n;
      }
    }
    // The average of the tasks run (DFRot's Avg also counts HellaSwag, which is n/a here).
    columns.emplace_back(str_cat("Avg(", n, ")"));
    cells.emplace_back(100 * sum / double(n));
    paper["Avg"] = sum / double(n);
    paper["Avg_tasks"] = n;
    report.set("eval_s", total_s);
    if (e.kept) report.set("kept_tokens_per_request", kept);
    if (common.json) {
      report.set("paper_row", paper);
      report.print(true);
      return 0;
    }
    report.print(false);
    std::printf("\n");
    Report table(columns);
    table.add_row(cells);
    table.print(false);
    return 0;
  };
}

}  // namespace dfrot::app
