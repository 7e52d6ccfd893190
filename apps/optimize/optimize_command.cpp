// SPDX-License-Identifier: Apache-2.0
// `dfrot optimize -m MODEL -o R1.npy --method dfrot|cayley`: learn the residual rotation R1 on the
// RMSNorm outputs of calibration windows (norms fused, no rotation; ALGORITHMS.md §4.2) and write
// it as a float64 d×d .npy that `dfrot ppl --rotate R1.npy` (and DFRot's --indices_path) reads.
//   dfrot:  DFRot's weighted alternating Procrustes (§4.4–4.5) with best-iterate tracking and early
//           stopping;
//   cayley: Cayley SGD on the Stiefel manifold (§5.3) minimizing the per-token 4-bit error
//           (--loss quant-error, DFRot's objective by gradient) or the outlier loss of the QuaRot
//           report (--loss outlier; P = 2 with global statistics is a constant, §6.1).
#include <chrono>
#include <cstdio>
#include <memory>

#include "common/commands.hpp"
#include "common/model_loading.hpp"
#include "common/procrustes_device.hpp"
#include "common/quant_flags.hpp"
#include "common/report.hpp"
#include "common/stopwatch.hpp"
#include "dfrot/eval/calibration.hpp"
#include "dfrot/io/npy.hpp"
#include "dfrot/pipeline/activation_capture.hpp"
#include "dfrot/pipeline/fuse_norms.hpp"
#include "dfrot/rotation/cayley_optimize.hpp"
#include "dfrot/rotation/massive_tokens.hpp"
#include "dfrot/rotation/procrustes.hpp"
#include "dfrot/rotation/random_hadamard.hpp"
#include "dfrot/rotation/random_orthogonal.hpp"

namespace dfrot::app {

namespace {
struct OptimizeOptions {
  std::string model, output, tokenizer;
  std::string calib = default_calibration_text();
  std::string method = "dfrot";
  std::string start = "hadamard";
  std::string massive_rule = "threshold";
  double tau = 0;  ///< 0: 8.5·√(d/4096)
  std::size_t calib_windows = 1, calib_len = 2048;
  // DFRot
  double alpha = 100;
  int iterations = 100;
  double tolerance = 1e-4;
  int patience = 10;
  // Cayley
  std::string loss = "quant-error";
  std::string outlier_stats = "per-token";
  double outlier_p = 4, outlier_t = 2.5;
  double lr = 1.5;
  std::size_t steps = 200, batch = 8192;
  bool exact = false;
  std::string device = "cpu";
};

}  // namespace

CommandAction add_optimize_command(CLI::App& sub, CommonOptions& common) {
  auto o = std::make_shared<OptimizeOptions>();
  sub.add_option("-m,--model", o->model, "model: GGUF file, llama2.c .bin, or HF directory")->required();
  sub.add_option("-o,--output", o->output, "rotation R1 to write (float64 d×d .npy)")->required();
  sub.add_option("--tokenizer", o->tokenizer, "tokenizer file when the model has none");
  sub.add_option("--method", o->method, "dfrot (weighted Procrustes) or cayley (Cayley SGD)")
      ->check(CLI::IsMember({"dfrot", "cayley"}))
      ->capture_default_str();
  sub.add_option("--start", o->start, "start rotation R0: hadamard (RH) or random (RO), seeded by -s")
      ->check(CLI::IsMember({"hadamard", "random"}))
      ->capture_default_str();
  sub.add_option("--calib", o->calib, "calibration text (never the evaluated split)")->capture_default_str();
  sub.add_option("--calib-windows", o->calib_windows, "calibration windows (DFRot: 1)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  sub.add_option("--calib-len", o->calib_len, "tokens per window")
      ->check(CLI::Range(std::size_t{1}, model::kMaxPositions))
      ->capture_default_str();
  sub.add_option("--massive-rule", o->massive_rule,
                 "massive tokens: threshold (e_t < tau; LLaMA/Qwen) or random (e_t <= e_t^RO; Mistral)")
      ->check(CLI::IsMember({"threshold", "random"}))
      ->capture_default_str();
  sub.add_option("--tau", o->tau, "massive-token error threshold (0: 8.5·sqrt(d/4096), DFRot's 8.5 at d=4096)")
      ->capture_default_str();
  sub.add_option("--alpha", o->alpha, "weight of massive tokens (their rows scaled by alpha)")->capture_default_str();
  sub.add_option("--device", o->device, "dfrot: where the Procrustes products and SVDs run (cpu or cuda)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  sub.add_option("--iterations", o->iterations, "dfrot: Procrustes iterations")->capture_default_str();
  sub.add_option("--tolerance", o->tolerance, "dfrot: relative improvement that resets patience")->capture_default_str();
  sub.add_option("--patience", o->patience, "dfrot: stop after this many iterations without improvement (0: never)")
      ->capture_default_str();
  sub.add_option("--loss", o->loss, "cayley: quant-error (DFRot's objective) or outlier (QuaRot report)")
      ->check(CLI::IsMember({"quant-error", "outlier"}))
      ->capture_default_str();
  sub.add_option("--outlier-stats", o->outlier_stats, "cayley outlier loss: global (report) or per-token")
      ->check(CLI::IsMember({"global", "per-token"}))
      ->capture_default_str();
  sub.add_option("--outlier-p", o->outlier_p, "cayley outlier loss exponent P (report: 2 = constant loss)")
      ->capture_default_str();
  sub.add_option("--outlier-t", o->outlier_t, "cayley outlier loss temperature T")->capture_default_str();
  sub.add_option("--lr", o->lr, "cayley: learning rate (SpinQuant 1.5; steps capped at 1/|W|_1)")->capture_default_str();
  sub.add_option("--steps", o->steps, "cayley: SGD steps")->capture_default_str();
  sub.add_option("--batch", o->batch, "cayley: rows per step (0 = all)")->capture_default_str();
  sub.add_flag("--exact-cayley", o->exact, "cayley: exact Cayley step by a linear solve (default: SpinQuant's 5 fixed-point iterations)");
  return [o, &common]() {
    auto const t_start = std::chrono::steady_clock::now();
    LoadedModel loaded = load_model(o->model, o->tokenizer, o->calib_len);
    model::LlamaWeights& w = loaded.model->weights();
    std::size_t const d = w.config.hidden;
    pipeline::fuse_rms_norms(w);  // DFRot: norms folded, no embedding-mean subtraction
    std::string const text = read_text(o->calib);
    std::vector<int> const tokens = loaded.tokenizer->encode(text, /*add_bos=*/true);
    eval::CalibrationSet const calib = eval::sample_calibration(
        tokens, {.n_windows = o->calib_windows, .window = o->calib_len, .seed = common.seed});
    auto const t_capture = std::chrono::steady_clock::now();
    pipeline::ActivationCapture const capture = pipeline::capture_rmsnorm_outputs(
        *loaded.model, calib.windows, {}, common.n_threads, [](std::size_t done, std::size_t total) {
          std::fprintf(stderr, "\rcapture: window %zu/%zu", done, total);
          std::fflush(stderr);
        });
    model::RowMatrixF const rows = capture.stacked();
    double const capture_s = seconds_since(t_capture);
    std::fprintf(stderr, "\ncalibration rows: %td x %td (2 RMSNorm outputs x %zu layers x %zu tokens)\n",
                 rows.rows(), rows.cols(), w.config.n_layers, calib.n_tokens());
    MatrixView<float const> const view(rows.data(), static_cast<std::size_t>(rows.rows()), d);

    Eigen::MatrixXd const r0 = o->start == "hadamard"
                                   ? rotation::RandomHadamardRotation(common.seed).generate(d).matrix
                                   : rotation::haar_orthogonal(d, common.seed);
    double const tau = o->tau > 0 ? o->tau : rotation::massive_threshold_for_width(d);
    rotation::MassiveTokens const massive =
        o->massive_rule == "threshold"
            ? rotation::select_massive_by_threshold(view, tau, 4, common.n_threads)
            : rotation::select_massive_by_rotation(view, rotation::haar_orthogonal(d, common.seed + 1),
                                                   4, common.n_threads);
    std::fprintf(stderr, "massive tokens (%s): %zu of %zu rows\n", massive.rule.c_str(),
                 massive.indices.size(), massive.n_rows());

    Report report({"iteration", "weighted_error", "error", "best"});
    report.set("model", o->model);
    report.set("method", o->method);
    report.set("start", o->start);
    report.set("seed", common.seed);
    report.set("calibration", str_cat(calib.windows.size(), " x ", o->calib_len, " tokens of ", o->calib));
    report.set("calibration_rows", rows.rows());
    report.set("massive_rule", massive.rule);
    report.set("massive_tokens", massive.indices.size());
    report.set("alpha", o->alpha);
    report.set("capture_s", capture_s);
    Eigen::MatrixXd r1;
    if (o->method == "dfrot") {
      rotation::ProcrustesConfig cfg;
      cfg.alpha = o->alpha;
      cfg.iterations = o->iterations;
      cfg.tolerance = o->tolerance;
      cfg.patience = o->patience;
      cfg.n_threads = common.n_threads;
      std::unique_ptr<rotation::ProcrustesBackend> const backend = make_procrustes_backend(o->device, common.n_threads);
      report.set("device", backend->name());
      auto const res = rotation::refine_rotation_procrustes(
          view, r0, massive.mask, cfg, backend.get(), [](rotation::ProcrustesIterate const& it) {
            std::fprintf(stderr, "\rprocrustes: iteration %3d  weighted error %.4f  error %.4f%s", it.iteration,
                         it.weighted_error, it.error, it.is_best ? " *" : "  ");
            std::fflush(stderr);
          });
      std::fprintf(stderr, "\n");
      for (std::size_t k = 0; k < res.error_curve.size(); ++k) {
        report.add_row({k, res.weighted_error_curve[k], res.error_curve[k],
                        static_cast<int>(k) == res.best_iteration});
      }
      report.set("best_iteration", res.best_iteration);
      report.set("iterations_run", res.iterations_run);
      report.set("stop", std::string(rotation::to_string(res.stop)));
      report.set("optimize_s", res.total_seconds);
      r1 = res.rotation;
    } else {
      std::unique_ptr<rotation::RotationLoss> loss;
      std::vector<double> weights;
      if (o->loss == "quant-error") {
        loss = std::make_unique<rotation::QuantErrorLoss>(rotation::QuantErrorLossOptions{.bits = 4, .mean_over_rows = true});
        weights.assign(massive.mask.size(), 1.0);
        for (std::size_t t : massive.indices) weights[t] = o->alpha * o->alpha;
      } else {
        rotation::OutlierLossOptions lo;
        lo.stats = o->outlier_stats == "global" ? rotation::OutlierStats::kGlobal : rotation::OutlierStats::kPerToken;
        lo.power = o->outlier_p;
        lo.temperature = o->outlier_t;
        loss = std::make_unique<rotation::OutlierLoss>(lo);
      }
      rotation::OptimizeRotationOptions opt;
      opt.sgd.lr = o->lr;
      opt.sgd.mode = o->exact ? rotation::CayleyMode::kExact : rotation::CayleyMode::kFixedPoint;
      opt.sgd.seed = common.seed;
      opt.steps = o->steps;
      opt.batch_rows = o->batch;
      opt.batch_seed = common.seed;
      auto const res = rotation::optimize_rotation(
          view, r0, *loss, opt, weights, [](rotation::OptimizeRotationStep const& s) {
            std::fprintf(stderr, "\rcayley: step %4zu  loss %.6g  alpha %.3g", s.step, s.loss, s.sgd.alpha);
            std::fflush(stderr);
          });
      std::fprintf(stderr, "\n");
      for (std::size_t k = 0; k < res.loss_curve.size(); ++k)
        report.add_row({k, res.loss_curve[k], nullptr, k == res.best_step});
      report.set("loss", loss->name());
      report.set("best_step", res.best_step);
      report.set("optimize_s", res.seconds);
      // Mini-batch losses are noisy: the last iterate is the rotation; its full-data error is below.
      r1 = res.rotation;
      // Re-orthonormalize: fixed-point Cayley steps are orthogonal only to high order.
      r1 = rotation::orthonormalize_qr(r1);
    }
    // Full-data comparison of start and result (unweighted per-token 4-bit error, RMS over rows).
    auto rms_error = [&](Eigen::MatrixXd const& q) {
      auto const e = rotation::rotated_token_quant_errors(view, q, 4, common.n_threads);
      double s = 0;
      for (double v : e) s += v * v;
      return std::sqrt(s / double(e.size()));
    };
    report.set("start_rms_token_error", rms_error(r0));
    report.set("result_rms_token_error", rms_error(r1));
    report.set("orthogonality_error", rotation::orthogonality_error(r1));
    io::write_npy_matrix(o->output, r1);
    report.set("output", o->output);
    report.set("total_s", seconds_since(t_start));
    report.print(common.json);
    return 0;
  };
}

}  // namespace dfrot::app
