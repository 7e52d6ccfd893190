// SPDX-License-Identifier: Apache-2.0
// GPTQ timing (quant/gptq.hpp): float64 Hessian accumulation + blocked column sweep, 2 threads.
//
//   BM_gptq_layer/<d>/<n_seq>/<seq_len>/<threads>: the whole per-layer job for a d×d linear:
//     n_seq calibration sequences of seq_len tokens streamed into a HessianAccumulator (one
//     seq_len×d batch reused, so memory stays small; the arithmetic is the same), then
//     gptq_quantize (4-bit sym per channel, block 128, damping 0.01). Counters: hessian_s,
//     sweep_s and hessian_GFLOPs (d·(d+1)·tokens flop for the lower triangle, float64).
//   Quick shape: d=1024, 8×2048 tokens. Issue shape (heavy, ~minutes): d=4096, 128×2048 tokens.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/quant/gptq.hpp"

namespace {

using namespace dfrot;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void BM_gptq_layer(benchmark::State& state) {
  std::size_t const d = static_cast<std::size_t>(state.range(0));
  std::size_t const n_seq = static_cast<std::size_t>(state.range(1));
  std::size_t const seq_len = static_cast<std::size_t>(state.range(2));
  int const threads = static_cast<int>(state.range(3));
  Rng rng(7);
  std::vector<float> x(seq_len * d), w(d * d);
  for (auto& v : x) v = static_cast<float>(rng.normal());
  for (auto& v : w) v = static_cast<float>(rng.normal() * 0.02);
  quant::GptqConfig cfg;
  cfg.n_threads = threads;
  double hessian_s = 0, sweep_s = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    quant::HessianAccumulator acc(d, threads);
    for (std::size_t s = 0; s < n_seq; ++s)
      acc.add(MatrixView<float const>(x.data(), seq_len, d), 1, "bench");
    hessian_s += seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    auto res = quant::gptq_quantize(MatrixView<float const>(w.data(), d, d), acc, cfg, "bench");
    benchmark::DoNotOptimize(res.weights.data());
    sweep_s += seconds_since(t0);
  }
  double const it = static_cast<double>(state.iterations());
  double const tokens = static_cast<double>(n_seq * seq_len);
  state.counters["hessian_s"] = hessian_s / it;
  state.counters["sweep_s"] = sweep_s / it;
  state.counters["hessian_GFLOPs"] =
      static_cast<double>(d) * static_cast<double>(d + 1) * tokens / (hessian_s / it) * 1e-9;
  state.SetLabel(std::to_string(n_seq) + "x" + std::to_string(seq_len) + " tokens, " +
                 std::to_string(threads) + " threads");
}

}  // namespace

// Quick shape.
BENCHMARK(BM_gptq_layer)->Args({1024, 8, 2048, 2})->Unit(benchmark::kSecond)->Iterations(1);
// The shape: 4096×4096 layer, 128×2048 calibration tokens, 2 threads (heavy).
BENCHMARK(BM_gptq_layer)->Args({4096, 128, 2048, 2})->Unit(benchmark::kSecond)->Iterations(1);
