// SPDX-License-Identifier: Apache-2.0
// The int4 engine's CPU GEMMs (gemm/gemm.hpp), 1 thread, each forced to one ISA level with
// ScopedIsa, against baselines measured in the same process run (PERF_GOALS.md C5/C6):
//
//   x_eigen      = t(Eigen SGEMM of the same shape) / t(ours); Eigen (AVX2+FMA build, 1 thread)
//                  computes Y = X·Wᵀ in FP32 with X row-major [M × K], W row-major [N × K].
//   x_onednn     = t(oneDNN int8 matmul, u8 × s8 → f32 with per-channel scales, 1 thread) / t(ours);
//                  only when the benchmarks were built with oneDNN (bench/support/onednn_baseline).
//   GOPS         = 2·M·N·K / t(ours) (integer or float operations).
//   Decode shapes (M ≤ 8) also report
//   GBps_weights = packed weight bytes / t(ours): codes (n_out_pad·k_pad/2 for int4, 2·N·K for
//                  F16, n_out_pad·k_pad for int8) + per-channel scales + int32 row sums;
//   x_read_bw    = t(one 256-bit read pass over a buffer of the same bytes) / t(ours): the share
//                  of the read bandwidth of that size this kernel reaches (C6: ≥ 0.7). With the
//                  same weights every call they sit in L2 / L3 (as does the read baseline's
//                  buffer); BM_gemm_w4a4_decode_cold rotates over ≥ 256 MiB of weight copies and
//                  compares with a read of that many bytes (DRAM), the case of a real decode step;
//   x_eigen_gemv = M · t(Eigen FP32 GEMV y = W·x of one token) / t(ours) (C6: ≥ 4).
//
//   BM_gemm_w4a4/<isa>/M/N/K: activations quantized to 4-bit sym per token (outside the timing),
//     weights RTN 4-bit sym per channel packed with PackedInt4Weights::from_quantized.
//     2048×4096×4096 (AVX2 and AVX-512 VNNI only, 3 iterations: one call takes ~0.1–1 s), the
//     default model's (SmolLM2-135M) linears at T = 512 tokens (512×1536×576 q/gate/up-like,
//     512×576×1536 down, 512×576×576 q/o, 512×192×576 k/v), decode M ∈ {1, 4, 8} × (4096 → 4096,
//     576 → 1536).
//   BM_gemm_w4a4_decode_cold/<isa>/M/4096/4096: as above, weights cycled over ≥ 256 MiB.
//   BM_quantize_activations_for_gemm/<isa>/M/K: the per-token 4-bit quantization in front of the
//     integer GEMM; x_memcpy_equiv = t(memcpy of the float input) / t(ours).
//   BM_hadamard_quantize_for_gemm/<isa>/M/K: the online Hadamard fused with that quantization
//     (C4); x_hadamard = t(Hadamard alone) / t(fused), x_separate = t(Hadamard, then quantize) /
//     t(fused).
//   BM_gemm_w4a16/<isa>/M/N/K, BM_gemm_f16/<isa>/M/N/K: decode shapes and the lm_head
//     (49152 × 576, M ∈ {1, 512}).
//   BM_gemm_w8a8/<isa>/M/49152/576: the Q8 lm_head (`--dense q8`: int8 per-row weights, 8-bit sym
//     activation codes), M ∈ {1, 512}; compare its time with BM_gemm_f16's on the same shape.
//
// ISA levels: <isa> is the Isa enum (0 scalar, 1 avx2, 3 avx512vnni), shown as the label. Only the
// levels with their own kernel run (gemm.hpp kIntGemmIsas / kFloatGemmIsas): avx512 without VNNI
// runs the AVX2 integer kernel and every float kernel tops out at AVX2. The scalar reference runs
// on the small shapes only (at 2048×4096×4096 or the lm_head prefill it takes minutes). This
// executable is built with -march=x86-64-v3 as the tool is (bench/CMakeLists.txt), so "scalar" is
// the portable C++ reference as the compiler vectorizes it for that target, and gemm_f16's
// Eigen-backed prefill path runs Eigen's AVX2+FMA code like the baseline does.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "dfrot/core/aligned_buffer.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/rng.hpp"
#include "dfrot/gemm/f16_matrix.hpp"
#include "dfrot/gemm/gemm.hpp"
#include "dfrot/gemm/packed_int4_weights.hpp"
#include "dfrot/gemm/quantized_activations.hpp"
#include "dfrot/hadamard/hadamard_transform.hpp"
#include "dfrot/quant/quant_config.hpp"
#include "dfrot/quant/rtn.hpp"
#include "support/baselines.hpp"
#include "support/bench_util.hpp"
#include "support/onednn_baseline.hpp"

namespace {

using namespace dfrot;
using bench::isa_available;
using bench::timed_loop;

constexpr std::int64_t kScalar = static_cast<std::int64_t>(Isa::kScalar);
constexpr std::int64_t kAvx2 = static_cast<std::int64_t>(Isa::kAvx2);
constexpr std::int64_t kVnni = static_cast<std::int64_t>(Isa::kAvx512Vnni);
constexpr std::int64_t kAmx = static_cast<std::int64_t>(Isa::kAmx);

/// Token counts up to which a shape is a decode shape (weight-bandwidth counters).
constexpr std::size_t kDecodeMaxTokens = 8;
/// Weight bytes the cold decode benchmark cycles over (8× the 32 MiB L3 of the CI machines).
constexpr std::size_t kColdBytes = std::size_t{256} << 20;

constexpr std::int64_t kPrefillTokens = 512;
constexpr std::int64_t kVocab = 49152;
constexpr std::int64_t kHidden = 576;

struct Shape {
  Isa isa;
  std::size_t m, n, k;  ///< tokens, output channels, input features
};

Shape shape_of(benchmark::State const& state) {
  return {static_cast<Isa>(state.range(0)), static_cast<std::size_t>(state.range(1)),
          static_cast<std::size_t>(state.range(2)), static_cast<std::size_t>(state.range(3))};
}

std::vector<float> gaussian(std::size_t n, std::uint64_t seed, double sd) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(sd * rng.normal());
  return v;
}

std::uint64_t shape_seed(std::size_t n_out, std::size_t n_in) { return n_out * 1000003u + n_in; }

/// RTN 4-bit sym per-channel weights of N(0, 0.02²) floats in the panel layout, once per shape.
gemm::PackedInt4Weights const& int4_weights(std::size_t n_out, std::size_t n_in) {
  static std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<gemm::PackedInt4Weights>>
      cache;
  auto& slot = cache[{n_out, n_in}];
  if (!slot) {
    std::vector<float> const w = gaussian(n_out * n_in, shape_seed(n_out, n_in), 0.02);
    quant::QuantConfig const cfg;  // 4-bit sym per row (output channel)
    quant::QuantizedTensor const q =
        quant::quantize_weights(MatrixView<float const>(w.data(), n_out, n_in), cfg);
    slot = std::make_unique<gemm::PackedInt4Weights>(
        gemm::PackedInt4Weights::from_quantized(q, "bench"));
  }
  return *slot;
}

/// F16 weights of N(0, 0.02²) floats, once per shape.
gemm::F16Matrix const& f16_weights(std::size_t n_out, std::size_t n_in) {
  static std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<gemm::F16Matrix>> cache;
  auto& slot = cache[{n_out, n_in}];
  if (!slot) {
    std::vector<float> const w = gaussian(n_out * n_in, shape_seed(n_out, n_in) + 1, 0.02);
    slot = std::make_unique<gemm::F16Matrix>(
        gemm::F16Matrix::from_float(MatrixView<float const>(w.data(), n_out, n_in), "bench"));
  }
  return *slot;
}

/// Q8 (int8 per row) weights of N(0, 0.02²) floats in the int8 panel layout, once per shape.
gemm::PackedInt8Weights const& int8_weights(std::size_t n_out, std::size_t n_in) {
  static std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<gemm::PackedInt8Weights>> cache;
  auto& slot = cache[{n_out, n_in}];
  if (!slot) {
    std::vector<float> const w = gaussian(n_out * n_in, shape_seed(n_out, n_in) + 2, 0.02);
    slot = std::make_unique<gemm::PackedInt8Weights>(
        gemm::PackedInt8Weights::quantize(MatrixView<float const>(w.data(), n_out, n_in), "bench"));
  }
  return *slot;
}

/// Bytes a GEMM call reads from the packed weights: codes, scales and row sums.
std::size_t int4_weight_bytes(gemm::PackedInt4Weights const& w) {
  return w.code_bytes() + w.n_out_pad() * (sizeof(float) + sizeof(std::int32_t));
}

/// The paper's activation quantizer: 4-bit sym per token, clip 0.9.
quant::QuantConfig activation_config() {
  quant::QuantConfig cfg;
  cfg.clip_ratio = 0.9f;
  return cfg;
}

/// N(0, 1) activations [m × k] quantized for the integer GEMM.
gemm::QuantizedActivations int4_activations(std::size_t m, std::size_t k) {
  std::vector<float> const x = gaussian(m * k, 11 + m, 1.0);
  gemm::QuantizedActivations a;
  gemm::quantize_activations_for_gemm(MatrixView<float const>(x.data(), m, k), activation_config(),
                                      a, 1);
  return a;
}

/// Sets the ratio counters shared by every GEMM benchmark (see the file comment). The baselines
/// are measured at their first use in this process (before this benchmark's warm-up call, so they
/// do not evict its operands during the timing) and cached.
struct Baselines {
  double eigen_s = 0;
  double gemv_s = 0;          ///< decode shapes only
  double read_s = 0;          ///< decode shapes only: a read pass over `read_bytes`
  std::size_t read_bytes = 0;
  std::optional<double> onednn_s;
};

Baselines measure_baselines(Shape const& sh, std::size_t weight_bytes, bool with_onednn,
                            std::size_t read_bytes = 0) {
  Baselines b;
  b.eigen_s = bench::eigen_sgemm_xwt_seconds(sh.m, sh.n, sh.k, 1);
  if (sh.m <= kDecodeMaxTokens) {
    b.gemv_s = bench::eigen_gemv_seconds(sh.n, sh.k, 1);
    b.read_bytes = read_bytes != 0 ? read_bytes : weight_bytes;
    b.read_s = bench::read_seconds(b.read_bytes);
  }
  if (with_onednn) b.onednn_s = bench::onednn_int8_matmul_seconds(sh.m, sh.n, sh.k);
  return b;
}

void report(benchmark::State& state, Shape const& sh, Baselines const& b, std::size_t weight_bytes,
            double s) {
  double const ops = 2.0 * static_cast<double>(sh.m) * static_cast<double>(sh.n) *
                     static_cast<double>(sh.k);
  state.counters["GOPS"] = ops / s * 1e-9;
  state.counters["x_eigen"] = b.eigen_s / s;
  if (b.onednn_s) state.counters["x_onednn"] = *b.onednn_s / s;
  if (sh.m <= kDecodeMaxTokens) {
    double const wb = static_cast<double>(weight_bytes);
    state.counters["GBps_weights"] = wb / s * 1e-9;
    // (weight_bytes / s) / (read_bytes / read_s): equal to read_s / s when the sizes agree.
    state.counters["x_read_bw"] = (wb / s) / (static_cast<double>(b.read_bytes) / b.read_s);
    state.counters["x_eigen_gemv"] = static_cast<double>(sh.m) * b.gemv_s / s;
  }
  state.SetLabel(std::string(to_string(sh.isa)));
}

void BM_gemm_w4a4(benchmark::State& state) {
  Shape const sh = shape_of(state);
  if (!isa_available(state, sh.isa)) return;
  gemm::PackedInt4Weights const& w = int4_weights(sh.n, sh.k);
  gemm::QuantizedActivations const a = int4_activations(sh.m, sh.k);
  AlignedBuffer<float> y(sh.m * sh.n);
  MatrixView<float> const yv(y.data(), sh.m, sh.n);
  Baselines const b = measure_baselines(sh, int4_weight_bytes(w), true);
  ScopedIsa const scope(sh.isa);
  gemm::gemm_w4a4(a, w, yv, 1);  // warm-up
  double const s = timed_loop(state, [&] {
    gemm::gemm_w4a4(a, w, yv, 1);
    benchmark::DoNotOptimize(y.data());
  });
  report(state, sh, b, int4_weight_bytes(w), s);
}

/// `copies` copies of one shape's packed weights, ≥ kColdBytes in all, as views.
struct ColdWeights {
  AlignedBuffer<std::uint8_t> codes;
  AlignedBuffer<float> scales;
  AlignedBuffer<std::int32_t> row_sums;
  std::vector<gemm::PackedInt4Weights> views;
  std::size_t total_bytes = 0;
};

ColdWeights const& cold_weights(std::size_t n_out, std::size_t n_in) {
  static std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<ColdWeights>> cache;
  auto& slot = cache[{n_out, n_in}];
  if (slot) return *slot;
  gemm::PackedInt4Weights const& w = int4_weights(n_out, n_in);
  std::size_t const per = int4_weight_bytes(w);
  std::size_t const copies = (kColdBytes + per - 1) / per;
  std::size_t const cb = w.code_bytes(), np = w.n_out_pad();
  auto c = std::make_unique<ColdWeights>();
  c->codes = AlignedBuffer<std::uint8_t>(copies * cb);
  c->scales = AlignedBuffer<float>(copies * np);
  c->row_sums = AlignedBuffer<std::int32_t>(copies * np);
  for (std::size_t i = 0; i < copies; ++i) {
    std::span<std::uint8_t> const ci(c->codes.data() + i * cb, cb);
    std::span<float> const si(c->scales.data() + i * np, np);
    std::span<std::int32_t> const ri(c->row_sums.data() + i * np, np);
    std::copy(w.codes(), w.codes() + cb, ci.begin());
    std::copy(w.scales(), w.scales() + np, si.begin());
    std::copy(w.row_sums(), w.row_sums() + np, ri.begin());
    c->views.push_back(gemm::PackedInt4Weights::view(n_out, n_in, ci, si, ri, nullptr, "cold"));
  }
  c->total_bytes = copies * per;
  slot = std::move(c);
  return *slot;
}

void BM_gemm_w4a4_decode_cold(benchmark::State& state) {
  Shape const sh = shape_of(state);
  if (!isa_available(state, sh.isa)) return;
  ColdWeights const& cw = cold_weights(sh.n, sh.k);
  std::size_t const per = int4_weight_bytes(cw.views.front());
  gemm::QuantizedActivations const a = int4_activations(sh.m, sh.k);
  AlignedBuffer<float> y(sh.m * sh.n);
  MatrixView<float> const yv(y.data(), sh.m, sh.n);
  Baselines const b = measure_baselines(sh, per, false, cw.total_bytes);
  ScopedIsa const scope(sh.isa);
  for (auto const& w : cw.views) gemm::gemm_w4a4(a, w, yv, 1);  // warm-up (pages, code)
  std::size_t i = 0;
  double const s = timed_loop(state, [&] {
    gemm::gemm_w4a4(a, cw.views[i], yv, 1);
    benchmark::DoNotOptimize(y.data());
    i = i + 1 == cw.views.size() ? 0 : i + 1;
  });
  report(state, sh, b, per, s);
  state.counters["copies"] = static_cast<double>(cw.views.size());
}

void BM_quantize_activations_for_gemm(benchmark::State& state) {
  Isa const isa = static_cast<Isa>(state.range(0));
  std::size_t const m = static_cast<std::size_t>(state.range(1));
  std::size_t const k = static_cast<std::size_t>(state.range(2));
  if (!isa_available(state, isa)) return;
  std::size_t const bytes = m * k * sizeof(float);
  double const memcpy_s = bench::memcpy_seconds(bytes);
  std::vector<float> const x = gaussian(m * k, 5, 1.0);
  MatrixView<float const> const xv(x.data(), m, k);
  quant::QuantConfig const cfg = activation_config();
  ScopedIsa const scope(isa);
  gemm::QuantizedActivations a;
  gemm::quantize_activations_for_gemm(xv, cfg, a, 1);  // allocate once
  double const s = timed_loop(state, [&] {
    gemm::quantize_activations_for_gemm(xv, cfg, a, 1);
    benchmark::DoNotOptimize(a.codes.data());
  });
  state.counters["x_memcpy_equiv"] = memcpy_s / s;
  state.counters["in_GBps"] = static_cast<double>(bytes) / s * 1e-9;
  state.SetLabel(std::string(to_string(isa)));
}

/// The online Hadamard + per-token 4-bit quantization of a site (PERF_GOALS C4: ≤ 1.3× the
/// Hadamard alone). Baselines in the same run, same ISA: the Hadamard alone in place on the rows
/// (`x_hadamard` = t(Hadamard) / t(fused)) and the unfused pair the hooks ran before, Hadamard in
/// place then quantize (`x_separate` = t(separate) / t(fused)).
void BM_hadamard_quantize_for_gemm(benchmark::State& state) {
  Isa const isa = static_cast<Isa>(state.range(0));
  std::size_t const m = static_cast<std::size_t>(state.range(1));
  std::size_t const k = static_cast<std::size_t>(state.range(2));
  if (!isa_available(state, isa)) return;
  hadamard::HadamardTransform const h(k);
  std::vector<float> x = gaussian(m * k, 7, 1.0);
  MatrixView<float> const xv(x.data(), m, k);
  quant::QuantConfig const cfg = activation_config();
  ScopedIsa const scope(isa);
  gemm::QuantizedActivations a;
  hadamard::HadamardTransform::RowKernel const transform = h.row_kernel();
  gemm::quantize_activations_for_gemm(xv, cfg, a, 1, transform);  // allocate once
  // In place on x: an orthogonal transform keeps the rows' scale, so repeated calls stay finite.
  double const hadamard_s = bench::median_seconds_per_call([&] { h.apply_rows(xv); });
  double const separate_s = bench::median_seconds_per_call([&] {
    h.apply_rows(xv);
    gemm::quantize_activations_for_gemm(xv, cfg, a, 1);
  });
  double const s = timed_loop(state, [&] {
    gemm::quantize_activations_for_gemm(xv, cfg, a, 1, transform);
    benchmark::DoNotOptimize(a.codes.data());
  });
  state.counters["x_hadamard"] = hadamard_s / s;
  state.counters["x_separate"] = separate_s / s;
  state.SetLabel(std::string(to_string(isa)));
}

void BM_gemm_w4a16(benchmark::State& state) {
  Shape const sh = shape_of(state);
  if (!isa_available(state, sh.isa)) return;
  gemm::PackedInt4Weights const& w = int4_weights(sh.n, sh.k);
  std::vector<float> const x = gaussian(sh.m * sh.k, 13, 1.0);
  MatrixView<float const> const xv(x.data(), sh.m, sh.k);
  AlignedBuffer<float> y(sh.m * sh.n);
  MatrixView<float> const yv(y.data(), sh.m, sh.n);
  Baselines const b = measure_baselines(sh, int4_weight_bytes(w), false);
  ScopedIsa const scope(sh.isa);
  gemm::gemm_w4a16(xv, w, yv, 1);
  double const s = timed_loop(state, [&] {
    gemm::gemm_w4a16(xv, w, yv, 1);
    benchmark::DoNotOptimize(y.data());
  });
  report(state, sh, b, int4_weight_bytes(w), s);
}

void BM_gemm_w8a8(benchmark::State& state) {
  Shape const sh = shape_of(state);
  if (!isa_available(state, sh.isa)) return;
  gemm::PackedInt8Weights const& w = int8_weights(sh.n, sh.k);
  std::vector<float> const x = gaussian(sh.m * sh.k, 19, 1.0);
  quant::QuantConfig cfg;
  cfg.bits = 8;
  gemm::QuantizedActivations a;
  gemm::quantize_activations_for_gemm(MatrixView<float const>(x.data(), sh.m, sh.k), cfg, a, 1);
  AlignedBuffer<float> y(sh.m * sh.n);
  MatrixView<float> const yv(y.data(), sh.m, sh.n);
  Baselines const b = measure_baselines(sh, w.bytes(), false);
  ScopedIsa const scope(sh.isa);
  gemm::gemm_w8a8(a, w, yv, 1);
  double const s = timed_loop(state, [&] {
    gemm::gemm_w8a8(a, w, yv, 1);
    benchmark::DoNotOptimize(y.data());
  });
  report(state, sh, b, w.bytes(), s);
}

void BM_gemm_f16(benchmark::State& state) {
  Shape const sh = shape_of(state);
  if (!isa_available(state, sh.isa)) return;
  // gemm_f16's prefill path (M > kF16DirectTokens) calls Eigen's GEMM outside any OpenMP region
  // when n_threads = 1, and Eigen then parallelizes over all OpenMP threads regardless of
  // n_threads: pin Eigen to 1 thread so this is the 1-thread figure the other benchmarks give.
  bench::ScopedEigenThreads const one_eigen_thread(1);
  gemm::F16Matrix const& w = f16_weights(sh.n, sh.k);
  std::vector<float> const x = gaussian(sh.m * sh.k, 17, 1.0);
  MatrixView<float const> const xv(x.data(), sh.m, sh.k);
  AlignedBuffer<float> y(sh.m * sh.n);
  MatrixView<float> const yv(y.data(), sh.m, sh.n);
  Baselines const b = measure_baselines(sh, w.bytes(), false);
  ScopedIsa const scope(sh.isa);
  gemm::gemm_f16(xv, w, yv, 1);
  double const s = timed_loop(state, [&] {
    gemm::gemm_f16(xv, w, yv, 1);
    benchmark::DoNotOptimize(y.data());
  });
  report(state, sh, b, w.bytes(), s);
}

// ---- shapes ------------------------------------------------------------------------------------

/// The default model's linears at T = 512 tokens: {n_out, n_in}.
constexpr std::int64_t kModelShapes[][2] = {
    {1536, kHidden}, {kHidden, 1536}, {kHidden, kHidden}, {192, kHidden}};
/// Decode: {n_out, n_in} for M ∈ {1, 4, 8}.
constexpr std::int64_t kDecodeShapes[][2] = {{4096, 4096}, {1536, kHidden}};
constexpr std::int64_t kDecodeTokens[] = {1, 4, 8};

/// Token counts around the AMX crossover (gemm::kAmxMinTokens): AMX against VNNI at 1536×576.
constexpr std::int64_t kCrossoverTokens[] = {16, 24, 32, 64, 128};

void w4a4_args(benchmark::internal::Benchmark* b) {
  for (std::int64_t isa : {kScalar, kAvx2, kVnni}) {
    for (auto const& s : kModelShapes) b->Args({isa, kPrefillTokens, s[0], s[1]});
    for (auto const& s : kDecodeShapes) {
      for (std::int64_t m : kDecodeTokens) b->Args({isa, m, s[0], s[1]});
    }
  }
  // AMX runs from kAmxMinTokens tokens (decode shapes would run the VNNI kernel).
  for (auto const& s : kModelShapes) b->Args({kAmx, kPrefillTokens, s[0], s[1]});
  for (std::int64_t isa : {kVnni, kAmx}) {
    for (std::int64_t m : kCrossoverTokens) b->Args({isa, m, 1536, kHidden});
  }
}

void w4a4_cold_args(benchmark::internal::Benchmark* b) {
  for (std::int64_t isa : {kAvx2, kVnni}) {
    for (std::int64_t m : kDecodeTokens) b->Args({isa, m, 4096, 4096});
  }
}

void quantize_args(benchmark::internal::Benchmark* b) {
  constexpr std::int64_t kShapes[][2] = {
      {2048, 4096}, {kPrefillTokens, kHidden}, {kPrefillTokens, 1536}, {1, 4096}, {1, kHidden}};
  for (std::int64_t isa : {kScalar, kAvx2, static_cast<std::int64_t>(Isa::kAvx512)}) {
    for (auto const& s : kShapes) b->Args({isa, s[0], s[1]});
  }
}

/// The online Hadamard sizes of the default model (576 = 36·16 before o_proj, 1536 = 12·128
/// before down_proj) and a power of two, at prefill and decode.
void hadamard_quantize_args(benchmark::internal::Benchmark* b) {
  for (std::int64_t isa : {kAvx2, static_cast<std::int64_t>(Isa::kAvx512)}) {
    for (std::int64_t k : {kHidden, std::int64_t{1536}, std::int64_t{4096}}) {
      for (std::int64_t m : {kPrefillTokens, std::int64_t{1}}) b->Args({isa, m, k});
    }
  }
}

/// Decode shapes and the lm_head (M = 1 on every level, M = 512 not on the scalar one).
void float_args(benchmark::internal::Benchmark* b) {
  for (std::int64_t isa : {kScalar, kAvx2}) {
    for (auto const& s : kDecodeShapes) {
      for (std::int64_t m : kDecodeTokens) b->Args({isa, m, s[0], s[1]});
    }
    b->Args({isa, 1, kVocab, kHidden});
    if (isa != kScalar) b->Args({isa, kPrefillTokens, kVocab, kHidden});
  }
}

/// The Q8 lm_head: M = 1 and M = 512 on every integer level (scalar: M = 1 only).
void head_args(benchmark::internal::Benchmark* b) {
  for (std::int64_t isa : {kScalar, kAvx2, kVnni}) {
    b->Args({isa, 1, kVocab, kHidden});
    if (isa != kScalar) b->Args({isa, kPrefillTokens, kVocab, kHidden});
  }
  b->Args({kAmx, kPrefillTokens, kVocab, kHidden});
}

/// Names the CPU level and the oneDNN build in the run's context (JSON and console header).
[[maybe_unused]] bool const kContext = [] {
  benchmark::AddCustomContext("dfrot_detected_isa", std::string(to_string(detected_isa())));
  std::string const dnnl = bench::onednn_description();
  benchmark::AddCustomContext("onednn", dnnl.empty() ? "not built (no x_onednn counters)" : dnnl);
  return true;
}();

}  // namespace

BENCHMARK(BM_gemm_w4a4)
    ->Args({kAvx2, 2048, 4096, 4096})
    ->Args({kVnni, 2048, 4096, 4096})
    ->Args({kAmx, 2048, 4096, 4096})
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gemm_w4a4)->Apply(w4a4_args)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_gemm_w4a4_decode_cold)
    ->Apply(w4a4_cold_args)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_quantize_activations_for_gemm)
    ->Apply(quantize_args)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_hadamard_quantize_for_gemm)
    ->Apply(hadamard_quantize_args)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_gemm_w4a16)->Apply(float_args)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_gemm_w8a8)->Apply(head_args)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_gemm_f16)->Apply(float_args)->UseManualTime()->Unit(benchmark::kMicrosecond);
