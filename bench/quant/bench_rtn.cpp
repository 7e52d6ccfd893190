// SPDX-License-Identifier: Apache-2.0
// Weight RTN with the MSE clip search (quant/rtn.hpp, ALGORITHMS.md §3.2: 80 candidate ranges per
// row, error Σ|Q(w) − w|^2.4), 1 thread, per ISA level of the clip kernel.
//
//   BM_rtn_clip_search/<isa>/<cols>: quantize_weights of 64 rows × cols (4096: LLaMA-7B's q_proj
//     rows, 11008: its down_proj rows). Counter x_powf = t_baseline / t_ours, where the baseline,
//     measured in the same run, is the search as dfrot ran it before the SIMD kernel: per weight
//     std::pow(float, float), summed in double (powf_clip_search below, the same candidates and
//     early exit). weights_per_us: weights of the matrix quantized per microsecond.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "dfrot/core/aligned_buffer.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/quant/rtn.hpp"
#include "support/baselines.hpp"
#include "support/bench_util.hpp"

namespace {

using namespace dfrot;
using namespace dfrot::quant;
constexpr std::size_t kRows = 64;

using bench::fill_normal;
using bench::isa_available;
using bench::timed_loop;

/// The former scalar search: std::pow per weight, checked against the bound every 32 weights.
double powf_error(std::span<float const> w, QuantParams<float> p, Grid<float> const& g, double bound) {
  double err = 0.0;
  for (std::size_t j0 = 0; j0 < w.size(); j0 += 32) {
    std::size_t const j1 = std::min(w.size(), j0 + 32);
    for (std::size_t j = j0; j < j1; ++j)
      err += static_cast<double>(std::pow(std::abs(fake_quantize(w[j], p, g) - w[j]), 2.4f));
    if (err >= bound) return err;
  }
  return err;
}

QuantParams<float> powf_clip_search(std::span<float const> w, Grid<float> const& g) {
  float m = 1e-5f;
  for (float const x : w) m = std::max(m, std::abs(x));
  double best = std::numeric_limits<double>::infinity();
  QuantParams<float> best_p{m / g.maxq, 0.0f};
  for (int i = 0; i < 80; ++i) {
    float const p = static_cast<float>(1.0 - static_cast<double>(i) / 100.0);
    QuantParams<float> const cand{(p * m) / g.maxq, 0.0f};
    double const err = powf_error(w, cand, g, best);
    if (err < best) {
      best = err;
      best_p = cand;
    }
  }
  return best_p;
}

void BM_rtn_clip_search(benchmark::State& state) {
  Isa const isa = static_cast<Isa>(state.range(0));
  std::size_t const cols = static_cast<std::size_t>(state.range(1));
  if (!isa_available(state, isa)) return;
  AlignedBuffer<float> w(kRows * cols);
  fill_normal(w);
  auto const g = make_grid<float>(4, Symmetry::kSym);
  double const baseline_s = bench::median_seconds([&] {
    for (std::size_t r = 0; r < kRows; ++r)
      benchmark::DoNotOptimize(powf_clip_search({w.data() + r * cols, cols}, g));
  }, 3);
  ScopedIsa scope(isa);
  QuantConfig cfg;
  ClipSearchConfig clip;
  clip.enabled = true;
  MatrixView<float const> wv(w.data(), kRows, cols);
  double const s = timed_loop(state, [&] {
    auto q = quantize_weights(wv, cfg, clip, 1);
    benchmark::DoNotOptimize(q.scales.data());
  });
  state.counters["x_powf"] = baseline_s / s;
  state.counters["powf_ms"] = baseline_s * 1e3;
  state.counters["weights_per_us"] = static_cast<double>(kRows * cols) / (s * 1e6);
  state.SetLabel(std::string(to_string(isa)));
}

}  // namespace

BENCHMARK(BM_rtn_clip_search)
    ->ArgsProduct({{0, 1, 2}, {4096, 11008}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.5);
