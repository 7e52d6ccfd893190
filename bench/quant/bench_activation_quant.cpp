// SPDX-License-Identifier: Apache-2.0
// Dynamic per-token activation quantize + int4 pack (quant/activation_quant.hpp), 1 thread, per
// ISA.
//
// "memcpy-equivalent" (the x_memcpy_equiv counter, goal >= 0.7): t_memcpy(B) / t_ours, where B is
// the byte size of the float32 input matrix, t_memcpy is the median time of one memcpy of B bytes
// between two distinct buffers measured in the same process run (bench::memcpy_seconds), and t_ours
// is the time to read that input once and write the packed int4 codes + per-token scales. 1.0
// means the quantizer consumes its input as fast as memcpy copies it; 0.7 means it takes 1/0.7 =
// 1.43x the memcpy time.
//
//   BM_quantize_activations/<isa>/<sym 0|asym 1>/<rows>: 4096-wide rows; rows = 2048 (32 MiB, the
//     issue's shape) and 16384 (256 MiB, a DRAM-streaming shape per PERF_GOALS.md).
//   BM_fake_quantize_activations/<isa>/<rows>: quantize -> dequantize in place (float out).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "dfrot/core/aligned_buffer.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/core/rng.hpp"
#include "dfrot/quant/activation_quant.hpp"
#include "support/baselines.hpp"
#include "support/bench_util.hpp"

namespace {

using namespace dfrot;
constexpr std::size_t kWidth = 4096;

using bench::fill_normal;
using bench::isa_available;
using bench::timed_loop;

void BM_quantize_activations(benchmark::State& state) {
  Isa const isa = static_cast<Isa>(state.range(0));
  bool const asym = state.range(1) != 0;
  std::size_t const rows = static_cast<std::size_t>(state.range(2));
  if (!isa_available(state, isa)) return;
  std::size_t const bytes = rows * kWidth * sizeof(float);
  double const memcpy_s = bench::memcpy_seconds(bytes);
  ScopedIsa scope(isa);
  AlignedBuffer<float> x(rows * kWidth);
  fill_normal(x);
  quant::QuantConfig cfg;  // paper activations: 4-bit per token, sym clip 0.9 (asym: clip 1.0)
  cfg.symmetry = asym ? quant::Symmetry::kAsym : quant::Symmetry::kSym;
  cfg.clip_ratio = asym ? 1.0f : 0.9f;
  MatrixView<float const> xv(x.data(), rows, kWidth);
  quant::QuantizedTensor out;
  quant::quantize_activations_into(xv, cfg, out, 1);  // allocate once
  double const s = timed_loop(state, [&] {
    quant::quantize_activations_into(xv, cfg, out, 1);
    benchmark::DoNotOptimize(out.data.data());
  });
  state.counters["x_memcpy_equiv"] = memcpy_s / s;
  state.counters["memcpy_ms"] = memcpy_s * 1e3;
  state.counters["in_GBps"] = static_cast<double>(bytes) / s * 1e-9;
  state.SetLabel(std::string(to_string(isa)) + (asym ? " asym" : " sym"));
}

void BM_fake_quantize_activations(benchmark::State& state) {
  Isa const isa = static_cast<Isa>(state.range(0));
  std::size_t const rows = static_cast<std::size_t>(state.range(1));
  if (!isa_available(state, isa)) return;
  std::size_t const bytes = rows * kWidth * sizeof(float);
  double const memcpy_s = bench::memcpy_seconds(bytes);
  ScopedIsa scope(isa);
  AlignedBuffer<float> x(rows * kWidth);
  fill_normal(x);
  quant::QuantConfig cfg;
  cfg.clip_ratio = 0.9f;
  MatrixView<float> xv(x.data(), rows, kWidth);
  double const s = timed_loop(state, [&] { quant::fake_quantize_activations(xv, xv, cfg, 1); });
  state.counters["x_memcpy_equiv"] = memcpy_s / s;
  state.SetLabel(std::string(to_string(isa)));
}

}  // namespace

BENCHMARK(BM_quantize_activations)
    ->ArgsProduct({{0, 1, 2}, {0, 1}, {2048, 16384}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.5);
BENCHMARK(BM_fake_quantize_activations)
    ->ArgsProduct({{0, 1, 2}, {2048}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.5);
