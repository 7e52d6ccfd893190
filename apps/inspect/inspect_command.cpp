// SPDX-License-Identifier: Apache-2.0
// `dfrot inspect -m MODEL [--calib FILE] [--plot FILE.svg] [--json]`: outlier statistics of every
// decoder layer's two RMSNorm outputs (norms fused) without rotation, after a random orthogonal
// rotation, after a randomized Hadamard and after an optional .npy rotation; DFRot's per-token
// 4-bit error plot (ALGORITHMS.md §4.3).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "common/commands.hpp"
#include "common/model_loading.hpp"
#include "common/quant_flags.hpp"
#include "common/report.hpp"
#include "common/svg_plot.hpp"
#include "dfrot/core/format.hpp"
#include "dfrot/eval/calibration.hpp"
#include "dfrot/io/npy.hpp"
#include "dfrot/pipeline/activation_capture.hpp"
#include "dfrot/pipeline/activation_stats.hpp"
#include "dfrot/pipeline/fuse_norms.hpp"
#include "dfrot/rotation/random_hadamard.hpp"
#include "dfrot/rotation/random_orthogonal.hpp"

namespace dfrot::app {

namespace {

struct InspectOptions {
  std::string model;
  std::string tokenizer;
  std::string calib = default_calibration_text();
  std::size_t calib_windows = 1;
  std::size_t calib_len = 2048;
  std::vector<std::size_t> layers;
  std::string rotation_file;
  std::string plot;
  std::string plot_layer;  // "N", "N:attn" or "N:mlp"; empty = most massive tokens
  pipeline::ActivationStatsOptions stats;
};

struct NamedRotation {
  std::string name;   // column value
  std::string label;  // legend text
  std::string color;
  Eigen::MatrixXd q;  // empty = no rotation
};

char const* site_name(model::LinearInput s) {
  return s == model::LinearInput::kAttention ? "attn" : "mlp";
}

std::string site_description(model::LinearInput s) {
  return s == model::LinearInput::kAttention ? "input RMSNorm output (q/k/v input)"
                                             : "post-attention RMSNorm output (gate/up input)";
}

/// Parses --plot-layer "N[:attn|:mlp]"; site kDown stands for "pick the worse site".
std::pair<std::size_t, model::LinearInput> parse_plot_layer(std::string const& s) {
  std::size_t const colon = s.find(':');
  std::string const num = s.substr(0, colon);
  DFROT_THROW_IF(num.empty() || num.find_first_not_of("0123456789") != std::string::npos,
                 UsageError, "--plot-layer '", s, "': expected N, N:attn or N:mlp");
  model::LinearInput site = model::LinearInput::kDown;
  if (colon != std::string::npos) {
    std::string const name = s.substr(colon + 1);
    DFROT_THROW_IF(name != "attn" && name != "mlp", UsageError, "--plot-layer '", s,
                   "': site must be attn or mlp");
    site = name == "attn" ? model::LinearInput::kAttention : model::LinearInput::kMlp;
  }
  return {std::stoul(num), site};
}

std::vector<NamedRotation> make_rotations(InspectOptions const& o, std::size_t d,
                                          std::uint64_t seed, Report& report) {
  std::vector<NamedRotation> rs;
  rs.push_back({"none", "no rotation", "#d62728", {}});
  rs.push_back({"random", "random orthogonal (RO)", "#1f77b4", rotation::haar_orthogonal(d, seed)});
  rs.push_back({"hadamard", "randomized Hadamard (RH)", "#2ca02c",
                rotation::RandomHadamardRotation(seed).generate(d).matrix});
  if (!o.rotation_file.empty()) {
    Eigen::MatrixXd q = io::read_npy_matrix(o.rotation_file, d, d);
    double const err = rotation::orthogonality_error(q);
    report.set("rotation_file_orthogonality_error", err);
    if (err > 1e-6)
      std::fprintf(stderr, "warning: %s is not orthogonal (max |QᵀQ − I| = %.3g)\n",
                   o.rotation_file.c_str(), err);
    std::string const stem = std::filesystem::path(o.rotation_file).stem().string();
    rs.push_back({"file", "rotation file " + stem, "#9467bd", std::move(q)});
  }
  return rs;
}

void write_plot(InspectOptions const& o, std::string const& model_name, std::size_t layer,
                model::LinearInput site, std::vector<NamedRotation> const& rotations,
                std::vector<std::vector<double>> const& errors, double threshold,
                std::size_t n_windows, std::size_t window_len) {
  Plot p;
  p.title = model_name + ": layer " + std::to_string(layer) + " " + site_description(site);
  p.subtitle = "per-token 4-bit error e_t = ||x_t − Q(x_t)||₂ (sym, per token), " +
               std::to_string(n_windows) + " × " + std::to_string(window_len) +
               " calibration tokens, norms fused";
  p.x_label = n_windows > 1 ? "token index (windows concatenated)" : "token index";
  p.y_label = "per-token quantization error e_t";
  for (std::size_t r = 0; r < rotations.size(); ++r) {
    PlotSeries s;
    s.label = rotations[r].label;
    s.color = rotations[r].color;
    s.y = errors[r];
    for (std::size_t t = 0; t < s.y.size(); ++t) s.x.push_back(double(t));
    p.series.push_back(std::move(s));
  }
  char label[96];
  std::snprintf(label, sizeof label, "DFRot threshold τ·√(d/4096) = %.3g", threshold);
  p.hlines.push_back({threshold, label, "#111111", true});
  write_svg(p, o.plot);
  std::filesystem::path png = o.plot;
  png.replace_extension(".png");
  std::string const tool = convert_svg_to_png(o.plot, png.string());
  std::fprintf(stderr, "plot: %s%s\n", o.plot.c_str(),
               tool.empty() ? "" : (" and " + png.string() + " (" + tool + ")").c_str());
}

}  // namespace

CommandAction add_inspect_command(CLI::App& sub, CommonOptions& common) {
  auto o = std::make_shared<InspectOptions>();
  sub.add_option("-m,--model", o->model, "model: GGUF file, llama2.c .bin, or HF directory")
      ->required();
  sub.add_option("--tokenizer", o->tokenizer,
                 "tokenizer file when the model has none (llama2.c tokenizer.bin)");
  sub.add_option("--calib", o->calib, "calibration text ($DFROT_SHARED_DIR or ../shared)")
      ->capture_default_str();
  sub.add_option("--calib-windows", o->calib_windows, "calibration windows (DFRot's nsamples)")
      ->capture_default_str();
  sub.add_option("--calib-len", o->calib_len, "tokens per calibration window")
      ->check(CLI::Range(std::size_t{1}, model::kMaxPositions))
      ->capture_default_str();
  sub.add_option("--layers", o->layers, "decoder layers to inspect (default: all)");
  sub.add_option("--rotation", o->rotation_file,
                 "extra d×d float64 .npy rotation to compare (e.g. a DFRot R1)");
  sub.add_option("--tau", o->stats.tau, "DFRot threshold for d = 4096 (scaled by sqrt(d/4096))")
      ->capture_default_str();
  sub.add_option("--massive-abs", o->stats.massive_min_abs,
                 "massive activation: |x| above this (Sun et al.)")
      ->capture_default_str();
  sub.add_option("--massive-ratio", o->stats.massive_median_ratio,
                 "massive activation: |x| above this × median |x|")
      ->capture_default_str();
  sub.add_option("--plot", o->plot, "write the per-token error plot as SVG (and PNG if possible)");
  sub.add_option(
      "--plot-layer", o->plot_layer,
      "layer[:attn|:mlp] to plot (default: most DFRot-massive tokens with e_t < median/2)");
  return [o, &common]() {
    auto const t0 = std::chrono::steady_clock::now();
    std::optional<std::pair<std::size_t, model::LinearInput>> const plot_choice =
        o->plot_layer.empty() ? std::nullopt : std::optional(parse_plot_layer(o->plot_layer));
    LoadedModel loaded = load_model(o->model, o->tokenizer, o->calib_len);
    model::ModelConfig const& cfg = loaded.model->config();
    std::string const text = read_text(o->calib);
    std::vector<int> const tokens = loaded.tokenizer->encode(text, /*add_bos=*/true);
    std::fprintf(stderr, "model: %s (%s)\ncalibration: %s, %zu tokens\n", o->model.c_str(),
                 model::describe(cfg).c_str(), o->calib.c_str(), tokens.size());
    eval::CalibrationSet const calib = eval::sample_calibration(
        tokens, {.n_windows = o->calib_windows, .window = o->calib_len, .seed = common.seed});
    pipeline::fuse_rms_norms(loaded.model->weights());
    pipeline::ActivationCapture const cap = pipeline::capture_rmsnorm_outputs(
        *loaded.model, calib.windows, {.layers = o->layers}, common.n_threads,
        [](std::size_t done, std::size_t total) {
          std::fprintf(stderr, "\rcapture: window %zu/%zu", done, total);
          std::fflush(stderr);
        });
    std::fprintf(stderr, "\n");
    DFROT_THROW_IF(plot_choice && !cap.captures(plot_choice->first), UsageError, "--plot-layer ",
                   plot_choice->first, ": layer not inspected (see --layers)");

    Report report({"layer", "site", "rotation", "massive_tokens", "massive_channels",
                   "dfrot_massive_tokens", "kurtosis", "token_kurtosis", "max_abs",
                   "max_over_median", "mean_token_error", "massive_token_error"});
    report.set("model", o->model);
    report.set("calib", o->calib);
    report.set("calib_windows", o->calib_windows);
    report.set("calib_len", o->calib_len);
    report.set("window_starts", calib.starts);
    report.set("seed", common.seed);
    std::vector<NamedRotation> const rotations =
        make_rotations(*o, cfg.hidden, common.seed, report);
    pipeline::ActivationStatsOptions stats_opt = o->stats;
    stats_opt.n_threads = common.n_threads;
    report.set("dfrot_threshold",
               stats_opt.tau * std::sqrt(double(cfg.hidden) / stats_opt.tau_width));
    report.set("massive_rule", str_cat("|x| > ", stats_opt.massive_min_abs, " and |x| > ",
                                       stats_opt.massive_median_ratio, " x median|x|"));

    // Per (layer, site): e_t for each rotation (for the plot) and the unrotated massive tokens.
    std::map<std::pair<std::size_t, int>, std::vector<std::vector<double>>> errors;
    std::map<std::pair<std::size_t, int>, std::size_t> plot_score;
    nlohmann::json detail = nlohmann::json::object();
    double threshold = 0;
    std::vector<std::size_t> const layers = cap.layers();
    for (std::size_t li = 0; li < layers.size(); ++li) {
      std::size_t const l = layers[li];
      std::fprintf(stderr, "\rstats: layer %zu (%zu/%zu)", l, li + 1, layers.size());
      std::fflush(stderr);
      for (model::LinearInput site : pipeline::ActivationCapture::kSites) {
        auto const key = std::make_pair(l, static_cast<int>(site));
        MatrixView<float const> const x = cap.rows(l, site);
        std::vector<std::size_t> massive;  // DFRot-massive tokens of the unrotated rows
        nlohmann::json massive_errors = nlohmann::json::object();
        for (NamedRotation const& r : rotations) {
          pipeline::ActivationStats const s =
              r.q.size() == 0 ? pipeline::activation_stats(x, stats_opt)
                              : pipeline::activation_stats(
                                    pipeline::view_of(pipeline::rotate_rows(x, r.q)), stats_opt);
          threshold = s.error_threshold;
          if (r.q.size() == 0) massive = s.low_error_tokens;
          // How this rotation treats the tokens that are massive without rotation (DFRot's point:
          // rotations help ordinary tokens but can hurt these).
          std::vector<double> e_massive;
          for (std::size_t t : massive) e_massive.push_back(s.token_error[t]);
          nlohmann::json mean_massive = nullptr;
          if (!e_massive.empty()) {
            double sum = 0;
            for (double e : e_massive) sum += e;
            mean_massive = sum / double(e_massive.size());
          }
          massive_errors[r.name] = e_massive;
          report.add_row({l, site_name(site), r.name, s.massive_tokens.size(),
                          s.massive_channels.size(), s.low_error_tokens.size(), s.kurtosis,
                          s.mean_token_kurtosis, s.max_abs, s.max_over_median, s.mean_token_error,
                          mean_massive});
          errors[key].push_back(s.token_error);
          if (r.q.size() == 0) {
            // Plot score: massive tokens that stand apart from the layer's typical token (e_t below
            // half the median e_t); on layer 0 the scaled threshold also catches plain tokens.
            std::vector<double> sorted = s.token_error;
            std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(sorted.size() / 2),
                             sorted.end());
            double const median = sorted[sorted.size() / 2];
            std::size_t apart = 0;
            for (std::size_t t : s.low_error_tokens)
              apart += s.token_error[t] < 0.5 * median ? 1 : 0;
            plot_score[key] = apart;
            std::vector<std::string> pieces;
            for (std::size_t t : s.low_error_tokens) {
              pipeline::CapturedToken const ct = cap.tokens()[t];
              pieces.push_back(loaded.tokenizer->token_text(calib.windows[ct.window][ct.position]));
            }
            std::vector<std::size_t> top;
            for (auto const& c : s.top_channels) top.push_back(c.channel);
            detail[std::to_string(l) + ":" + site_name(site)] = {
                {"dfrot_massive_tokens", s.low_error_tokens},
                {"dfrot_massive_text", pieces},
                {"massive_tokens", s.massive_tokens},
                {"massive_channels", s.massive_channels},
                {"top_channels", top}};
          }
        }
        detail[std::to_string(l) + ":" + site_name(site)]["dfrot_massive_errors"] = massive_errors;
      }
    }
    std::fprintf(stderr, "\n");
    if (common.json) report.set("unrotated", detail);
    double const seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    report.set("seconds", seconds);

    if (!o->plot.empty() && !layers.empty()) {
      std::size_t layer = layers.front();
      model::LinearInput site = model::LinearInput::kAttention;
      auto score = [&](std::size_t l, model::LinearInput st) {
        return plot_score[{l, static_cast<int>(st)}];
      };
      if (plot_choice) {
        std::tie(layer, site) = *plot_choice;
        if (site == model::LinearInput::kDown)  // layer only: the site with more massive tokens
          site =
              score(layer, model::LinearInput::kMlp) > score(layer, model::LinearInput::kAttention)
                  ? model::LinearInput::kMlp
                  : model::LinearInput::kAttention;
      } else {
        std::size_t best = 0;
        for (std::size_t l : layers) {
          for (model::LinearInput st : pipeline::ActivationCapture::kSites) {
            if (score(l, st) > best) {
              best = score(l, st);
              layer = l;
              site = st;
            }
          }
        }
      }
      write_plot(*o, std::filesystem::path(o->model).stem().string(), layer, site, rotations,
                 errors[{layer, int(site)}], threshold, calib.windows.size(), o->calib_len);
      report.set("plot", o->plot);
      report.set("plot_layer", str_cat(layer, ":", site_name(site)));
    }
    report.print(common.json);
    return 0;
  };
}

}  // namespace dfrot::app
