// SPDX-License-Identifier: Apache-2.0
// Walsh-Hadamard benchmarks (PERF_GOALS.md C1-C3), each reported as a ratio to a same-run baseline:
//   C1 BM_fwht_rows_stream/<isa>/4096: n=4096 rows over 256 MiB in place, 1 thread;
//      x_memcpy = our time / memcpy time of the same 256 MiB (goal <= 1.15).
//   C2 BM_fwht_rows_cache/<isa>/4096: rows kept in L2; ns_per_row (goal <= 1100 ns).
//   C3 BM_hadamard_stream/<isa>/K: n = K·2^m near 4096-8192 over 256 MiB, one pass per row;
//      x_pow2 = per-element throughput relative to the power-of-two stream of the same run
//      (goal >= 0.7 for K <= 40), kstage_x_sgemm = GFLOP/s of the K×K stage (2·K0 flop per
//      element) relative to Eigen SGEMM of the same shape (goal >= 0.6).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>

#include "dfrot/core/aligned_buffer.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/core/rng.hpp"
#include "dfrot/hadamard/fwht.hpp"
#include "dfrot/hadamard/hadamard_transform.hpp"
#include "support/baselines.hpp"
#include "support/bench_util.hpp"

namespace {

using namespace dfrot;
constexpr std::size_t kStreamBytes = std::size_t{256} << 20;

using bench::fill_normal;
using bench::isa_available;

// Times `body` and sets a ratio counter against `baseline_seconds`.
template <class Body>
void run_timed(benchmark::State& state, double baseline_seconds, char const* ratio_name,
               Body&& body) {
  state.counters[ratio_name] = bench::timed_loop(state, body) / baseline_seconds;
}

double pow2_stream_seconds_per_element(Isa isa) {
  static double cache[4] = {0, 0, 0, 0};
  double& c = cache[static_cast<int>(isa)];
  if (c == 0) {
    ScopedIsa scope(isa);
    AlignedBuffer<float> buf(kStreamBytes / sizeof(float));
    fill_normal(buf);
    MatrixView<float> rows(buf.data(), buf.size() / 4096, 4096);
    c = bench::median_seconds([&] { hadamard::fwht_rows(rows, hadamard::Normalize::kOrthonormal); }, 5) /
        static_cast<double>(buf.size());
  }
  return c;
}

void BM_memcpy_stream(benchmark::State& state) {
  AlignedBuffer<float> src(kStreamBytes / sizeof(float)), dst(kStreamBytes / sizeof(float));
  fill_normal(src);
  run_timed(state, bench::memcpy_seconds(kStreamBytes), "x_memcpy",
            [&] { std::memcpy(dst.data(), src.data(), kStreamBytes); });
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kStreamBytes));
}

void BM_fwht_rows_stream(benchmark::State& state) {
  Isa const isa = static_cast<Isa>(state.range(0));
  std::size_t const n = static_cast<std::size_t>(state.range(1));
  if (!isa_available(state, isa)) return;
  ScopedIsa scope(isa);
  AlignedBuffer<float> buf(kStreamBytes / sizeof(float));
  fill_normal(buf);
  MatrixView<float> rows(buf.data(), buf.size() / n, n);
  run_timed(state, bench::memcpy_seconds(kStreamBytes), "x_memcpy",
            [&] { hadamard::fwht_rows(rows, hadamard::Normalize::kOrthonormal); });
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kStreamBytes));
  state.SetLabel(std::string(to_string(isa)));
}

void BM_fwht_rows_cache(benchmark::State& state) {
  Isa const isa = static_cast<Isa>(state.range(0));
  std::size_t const n = static_cast<std::size_t>(state.range(1));
  if (!isa_available(state, isa)) return;
  ScopedIsa scope(isa);
  std::size_t const n_rows = 16;  // 256 KiB for n = 4096: stays in L2
  AlignedBuffer<float> buf(n_rows * n);
  fill_normal(buf);
  MatrixView<float> rows(buf.data(), n_rows, n);
  double total = 0;
  for (auto _ : state) {
    auto const start = std::chrono::steady_clock::now();
    hadamard::fwht_rows(rows, hadamard::Normalize::kOrthonormal);
    benchmark::ClobberMemory();
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  // Plain number (not a rate) so it prints as nanoseconds per row.
  state.counters["ns_per_row"] =
      total * 1e9 / (static_cast<double>(state.iterations()) * static_cast<double>(n_rows));
  state.SetLabel(std::string(to_string(isa)));
}

void BM_hadamard_stream(benchmark::State& state) {
  Isa const isa = static_cast<Isa>(state.range(0));
  std::size_t const k = static_cast<std::size_t>(state.range(1));
  if (!isa_available(state, isa)) return;
  std::size_t m = 1;
  while (k * m < 4096) m *= 2;
  std::size_t const n = k * m;
  hadamard::HadamardTransform const t(n);
  double const base = pow2_stream_seconds_per_element(isa);
  ScopedIsa scope(isa);
  std::size_t const n_rows = kStreamBytes / sizeof(float) / n;
  AlignedBuffer<float> buf(n_rows * n);
  fill_normal(buf);
  MatrixView<float> rows(buf.data(), n_rows, n);
  double const elements = static_cast<double>(n_rows * n);
  run_timed(state, base * elements, "x_pow2_time", [&] { t.apply_rows(rows); });
  state.counters["x_pow2"] = 1.0 / state.counters["x_pow2_time"];
  state.counters["x_memcpy"] =
      state.counters["x_pow2_time"] * base * elements / bench::memcpy_seconds(n_rows * n * 4);
  // K×K stage alone on rows kept in cache, as GFLOP/s against Eigen SGEMM of the same shape.
  std::size_t const k0 = k == 40 ? 20 : k;  // 40 runs as two 20-stages plus one butterfly
  AlignedBuffer<float> small(8 * n);
  fill_normal(small);
  MatrixView<float> small_rows(small.data(), 8, n);
  double const s = bench::median_seconds([&] { t.apply_rows(small_rows); }, 9);
  double const fwht_s = [&] {
    AlignedBuffer<float> sub(8 * n);
    fill_normal(sub);
    MatrixView<float> sub_rows(sub.data(), 8 * k, m);
    return bench::median_seconds([&] { hadamard::fwht_rows(sub_rows); }, 9);
  }();
  double const kstage_gflops = 2.0 * static_cast<double>(k0) * 8.0 * static_cast<double>(n) /
                               std::max(s - fwht_s, 1e-9) * 1e-9;
  state.counters["kstage_x_sgemm"] = kstage_gflops / bench::eigen_sgemm_gflops(k0, 8 * m * (k / k0), k0);
  state.SetLabel(std::string(to_string(isa)) + " n=" + std::to_string(n));
}

void isa_args(benchmark::internal::Benchmark* b, std::vector<std::int64_t> const& second) {
  for (int isa = 0; isa <= 2; ++isa) {
    for (auto v : second) b->Args({isa, v});
  }
}

}  // namespace

BENCHMARK(BM_memcpy_stream)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_fwht_rows_stream)
    ->Apply([](auto* b) { isa_args(b, {4096}); })
    ->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_fwht_rows_cache)
    ->Apply([](auto* b) { isa_args(b, {4096}); })
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_hadamard_stream)
    ->Apply([](auto* b) {
      isa_args(b, {12, 20, 28, 36, 40, 44, 52, 60, 108, 140, 148, 156, 172});
    })
    ->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(0.5);
