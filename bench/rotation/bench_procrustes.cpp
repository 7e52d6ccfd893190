// SPDX-License-Identifier: Apache-2.0
// One iteration of DFRot's weighted alternating Procrustes (rotation/procrustes.hpp) on the CPU
// backend, 2 threads: Y = A0·C and B = Qz(Y) over all N rows, M = Yᵀ·diag(w)·B, the d×d SVD and
// the QR re-orthonormalization.
//
//   BM_procrustes_iteration/<d>/<N>:
//     d = 576,  N = 2·30·2048 = 122,880 (SmolLM2-135M: 30 layers × 2 RMSNorm outputs × 1 window)
//     d = 4096, N = 131,072 (a 32-layer 7B model; 2 GiB of float32 rows; run once or twice)
//   Counters: s_per_iter (seconds of one iteration), s_100_iters (DFRot's 100 iterations, the
//   projection 100·s_per_iter), x_sgemm = s_per_iter ÷ the time of one Eigen SGEMM (AVX2+FMA
//   build, same thread count) of the N×d×d shape measured in this run — an iteration holds two
//   such GEMMs, so 2.0 is the floor for a GEMM-bound loop; eval_s / svd_s / qr_s split the time.
//   For d = 4096 the SGEMM rate is measured on 8192×d×d (the rate is flat in N; the full shape
//   would take minutes) and scaled to N.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <vector>

#include "dfrot/core/aligned_buffer.hpp"
#include "dfrot/rotation/procrustes.hpp"
#include "dfrot/rotation/random_hadamard.hpp"
#include "support/baselines.hpp"
#include "support/bench_util.hpp"

namespace {

using namespace dfrot;
constexpr int kThreads = 2;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void BM_procrustes_iteration(benchmark::State& state) {
  auto const d = static_cast<std::size_t>(state.range(0));
  auto const n = static_cast<std::size_t>(state.range(1));
  std::size_t const gemm_rows = d >= 2048 ? 8192 : n;
  double const gflops = bench::eigen_sgemm_gflops(gemm_rows, d, d, kThreads);
  double const sgemm_s = 2.0 * double(n) * double(d) * double(d) / (gflops * 1e9);
  AlignedBuffer<float> rows(n * d);
  bench::fill_normal(rows);
  std::vector<double> w(n, 1.0);
  for (std::size_t t = 0; t < n; t += 100) w[t] = 100.0 * 100.0;  // ~1% massive tokens
  Eigen::MatrixXd c = rotation::RandomHadamardRotation(42).generate(d).matrix;
  rotation::EigenProcrustesBackend backend(kThreads);
  backend.bind(MatrixView<float const>(rows.data(), n, d), w, 4);
  rotation::ProcrustesEvaluation ev;
  double eval_s = 0, svd_s = 0, qr_s = 0;
  double const s = bench::timed_loop(state, [&] {
    auto t0 = std::chrono::steady_clock::now();
    backend.evaluate(c, true, ev);
    eval_s += seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    Eigen::MatrixXd const p = backend.polar(ev.cross);
    svd_s += seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    c = backend.orthonormalize(c * p);
    qr_s += seconds_since(t0);
    benchmark::DoNotOptimize(c.data());
  });
  double const iters = static_cast<double>(state.iterations());
  state.counters["s_per_iter"] = s;
  state.counters["s_100_iters"] = 100.0 * s;
  state.counters["x_sgemm"] = s / sgemm_s;
  state.counters["sgemm_s"] = sgemm_s;
  state.counters["sgemm_GFLOPs"] = gflops;
  state.counters["eval_s"] = eval_s / iters;
  state.counters["svd_s"] = svd_s / iters;
  state.counters["qr_s"] = qr_s / iters;
}

BENCHMARK(BM_procrustes_iteration)
    ->Args({576, 2 * 30 * 2048})
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);
BENCHMARK(BM_procrustes_iteration)
    ->Args({4096, 131072})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

}  // namespace
