// SPDX-License-Identifier: Apache-2.0
#include "common/prepare.hpp"

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
  }
  out.quantize_seconds = seconds_since(t1);
  return out;
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

std::optional<pipeline::SkewPlan> plan_quantizer_symmetry(LoadedModel const& m,
                                                          pipeline::QuantScheme const& s,
                                                          pipeline::OnlineTransformOptions const& online,
                                                          std::string const& calib_path,
                                                          int n_threads) {
  if (!s.auto_asym) return std::nullopt;
  auto const t0 = std::chrono::steady_clock::now();
  eval::CalibrationOptions first = s.calib;  // the report: the first calibration sequence only
  first.n_windows = 1;
  eval::CalibrationSet const calib = load_calibration(m, calib_path, first);
  pipeline::SkewPlan plan = pipeline::select_quantizer_symmetry(*m.model, online, calib.windows,
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

}  // namespace dfrot::app
