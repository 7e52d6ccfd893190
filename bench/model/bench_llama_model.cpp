// SPDX-License-Identifier: Apache-2.0
// FP32 prefill of the default model (SmolLM2-135M, data/models/), 2 threads:
//   tokens_per_s, and x_sgemm = the forward pass's GFLOP/s (2·params·tokens for the linears and
//   lm_head + 4·T²·d per layer for causal attention, counted in full) ÷ Eigen SGEMM GFLOP/s of a
//   large projection shape (T×1536×576) on the same threads in the same run (goal >= 0.6).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "common/model_loading.hpp"
#include "dfrot/core/rng.hpp"
#include "support/baselines.hpp"

namespace {

std::filesystem::path default_model() {
  if (char const* env = std::getenv("DFROT_MODEL")) return env;
  return std::filesystem::path(DFROT_BENCH_SOURCE_DIR) / "data/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

void BM_prefill(benchmark::State& state) {
  std::size_t const n_tokens = static_cast<std::size_t>(state.range(0));
  int const threads = static_cast<int>(state.range(1));
  auto const path = default_model();
  if (!std::filesystem::exists(path)) {
    state.SkipWithError("default model missing: run scripts/fetch_model.sh (or set DFROT_MODEL)");
    return;
  }
  static dfrot::app::LoadedModel loaded = dfrot::app::load_model(path.string(), "", 2048);
  auto const& model = *loaded.model;
  auto const& c = model.config();
  std::vector<int> tokens(n_tokens);
  dfrot::Rng rng(1);
  for (auto& t : tokens) t = static_cast<int>(rng.uniform_int(c.vocab));
  auto cache = model.make_cache();
  double seconds = 0;
  for (auto _ : state) {
    auto const start = std::chrono::steady_clock::now();
    cache.clear();
    auto hidden = model.forward_hidden(tokens, cache, nullptr, {.n_threads = threads});
    auto logits = model.logits(hidden);
    benchmark::DoNotOptimize(logits.data());
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  double const d = double(c.hidden), T = double(n_tokens);
  double const linear_params =
      double(c.n_layers) * (d * double((c.n_heads + 2 * c.n_kv_heads) * c.head_dim) +
                            double(c.n_heads * c.head_dim) * d + 3.0 * d * double(c.intermediate)) +
      double(c.vocab) * d;
  double const flops = 2.0 * linear_params * T +
                       double(c.n_layers) * 4.0 * T * T * double(c.n_heads * c.head_dim);
  state.counters["tokens_per_s"] = benchmark::Counter(T, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  double const sgemm = dfrot::bench::eigen_sgemm_gflops(n_tokens, c.intermediate, c.hidden, threads);
  state.counters["sgemm_GFLOPs"] = sgemm;
  state.counters["x_sgemm"] = flops / (seconds / double(state.iterations())) * 1e-9 / sgemm;
}

}  // namespace

BENCHMARK(BM_prefill)->Args({512, 2})->Args({2048, 2})->Unit(benchmark::kMillisecond)->MinTime(2.0);
