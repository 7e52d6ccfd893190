// SPDX-License-Identifier: Apache-2.0
#include "common/prepare.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/stopwatch.hpp"

namespace dfrot::app {

PreparedModel prepare_model(LoadedModel& m, pipeline::QuantScheme const& s,
                            std::string const& calib_path, int n_threads) {
  PreparedModel out;
  auto const t0 = std::chrono::steady_clock::now();
  out.source_tied = m.model->weights().is_tied();
  out.online = pipeline::transform_weights(m.model->weights(), s, n_threads);
  out.transform_seconds = seconds_since(t0);

  auto const t1 = std::chrono::steady_clock::now();
  eval::CalibrationSet calib;
  bool const gptq = s.w_bits < 16 && s.weight_method == pipeline::WeightMethod::kGptq;
  if (gptq) calib = load_calibration(m, calib_path, s.calib);
  out.gptq = pipeline::quantize_weights(
      *m.model, s, out.online, gptq ? &calib : nullptr, n_threads,
      print_gptq_progress, &out.codes);
  if (gptq) {
    std::fprintf(stderr, "\ngptq: %zu linears, calibration forwards + Hessians %.1f s, solves %.1f s\n",
                 out.gptq.linears.size(), out.gptq.hessian_seconds, out.gptq.solve_seconds);
    if (!out.gptq.clip_search.empty()) print_learned_clip(out.gptq);
    if (s.gptq.fp_target || s.gptq.input_target) {
      double worst = 0, sum = 0;
      std::string at;
      for (auto const& lin : out.gptq.linears) {
        sum += lin.target_growth;
        if (lin.target_growth > worst) {
          worst = lin.target_growth;
          at = lin.name;
        }
      }
      std::fprintf(stderr, "gptq target: max|W*| / max|W| mean %.3f, largest %.3f (%s)\n",
                   sum / double(std::max<std::size_t>(out.gptq.linears.size(), 1)), worst, at.c_str());
    }
  }
  out.quantize_seconds = seconds_since(t1);
  return out;
}

void print_learned_clip(pipeline::SequentialGptqReport const& r) {
  // Per site: the mean learned ratio over layers and the output error it saves against the scheme's.
  for (std::size_t i = 0; i < 4; ++i) {
    std::string const site(pipeline::to_string(static_cast<pipeline::QuantSite>(i)));
    double sum = 0, lo = 1, hi = 0, e0 = 0, e1 = 0;
    std::size_t n = 0;
    for (pipeline::LearnedClip const& c : r.clip_search) {
      if (!c.site.ends_with(site)) continue;
      sum += double(c.ratio);
      lo = std::min(lo, double(c.ratio));
      hi = std::max(hi, double(c.ratio));
      e0 += c.scheme_error;
      e1 += c.error;
      ++n;
    }
    if (n == 0) continue;
    std::fprintf(stderr, "lac: %-16s clip mean %.3f (%.2f … %.2f over %zu layers), output error %.4g -> %.4g (%.1f%% less)\n",
                 site.c_str(), sum / double(n), lo, hi, n, e0, e1, e0 > 0 ? 100.0 * (1 - e1 / e0) : 0.0);
  }
  std::fprintf(stderr, "lac: search %.1f s\n", r.clip_seconds);
}

void print_gptq_progress(pipeline::GptqModelProgress const& p) {
  std::fprintf(stderr, "\rgptq: layer %zu/%zu %-12s %6.0f s", p.layer + 1, p.n_layers,
               std::string(pipeline::to_string(p.group)).c_str(), p.seconds);
  std::fflush(stderr);
}

eval::CalibrationSet load_calibration(LoadedModel const& m, std::string const& calib_path,
                                      eval::CalibrationOptions const& o) {
  return load_calibration(*m.tokenizer, calib_path, o);
}

eval::CalibrationSet load_calibration(tokenizer::Tokenizer const& tok, std::string const& calib_path,
                                      eval::CalibrationOptions const& o) {
  std::string const text = read_text(calib_path);
  std::vector<int> const tokens = tok.encode(text, /*add_bos=*/true);
  eval::CalibrationSet calib = eval::sample_calibration(tokens, o);
  std::fprintf(stderr, "calibration: %s, %zu tokens, %zu windows of %zu (seed %llu)\n",
               calib_path.c_str(), tokens.size(), calib.windows.size(), o.window,
               static_cast<unsigned long long>(o.seed));
  return calib;
}

std::optional<pipeline::QuantizerPlan> plan_quantizer_symmetry(LoadedModel const& m,
                                                          pipeline::QuantScheme const& s,
                                                          pipeline::OnlineTransformOptions const& online,
                                                          std::string const& calib_path,
                                                          int n_threads) {
  if (!s.auto_asym) return std::nullopt;
  auto const t0 = std::chrono::steady_clock::now();
  eval::CalibrationOptions first = s.calib;  // the report: the first calibration sequence only
  first.n_windows = 1;
  eval::CalibrationSet const calib = load_calibration(m, calib_path, first);
  pipeline::QuantizerPlan plan = pipeline::select_quantizer_symmetry(*m.model, online, calib.windows,
                                                                s.skew, n_threads);
  std::string summary;
  for (std::size_t i = 0; i < pipeline::kQuantSites; ++i) {
    auto const site = static_cast<pipeline::QuantSite>(i);
    summary += str_cat(i ? ", " : "", pipeline::to_string(site), " ", plan.count_asym(site), "/",
                       plan.symmetry.size());
  }
  std::fprintf(stderr, "auto-asym: asymmetric quantizers per site: %s (%.1f s)\n", summary.c_str(),
               seconds_since(t0));
  return plan;
}

std::optional<pipeline::QuantizerPlan> with_learned_clip(std::optional<pipeline::QuantizerPlan> plan,
                                                         PreparedModel const& prepared) {
  if (prepared.gptq.clip.empty()) return plan;
  if (!plan) plan.emplace();
  plan->clip = prepared.gptq.clip;
  return plan;
}

}  // namespace dfrot::app
