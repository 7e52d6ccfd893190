// SPDX-License-Identifier: Apache-2.0
// CUDA W4A4 GEMM (gemm/cuda/gemm_w4a4.cuh) against cuBLAS FP16 (cublasGemmEx, FP32 accumulation)
// measured in the same run on the same shapes (PERF_GOALS G4 prefill M = 4096, N = K ∈ {4096,
// 8192}; G5 decode M ≤ 16). Counters:
//   TOPS        = 2·M·N·K / t (integer operations)
//   x_cublas_fp16 = t(cuBLAS FP16) / t(ours)   (goal: ≥ 1.5 on H100/H200, ≥ 3 on sm_80/89; G5 ≥ 3.2)
// Times are CUDA-event times of the kernel alone (inputs already on the device), median of the
// benchmark's repetitions. Without a device every benchmark reports "skipped".
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "dfrot/core/cuda/check.hpp"
#include "dfrot/core/cuda/device_buffer.hpp"
#include "dfrot/core/cuda/handles.hpp"
#include "dfrot/gemm/cuda/gemm_w4a4.cuh"

using namespace dfrot;
using namespace dfrot::gemm;
using namespace dfrot::gemm::cuda;

namespace {

/// Synthetic operands: weights with codes in [−8, 7], 4-bit activations (the GEMM time does not
/// depend on the values).
PackedInt4Weights synthetic_weights(std::size_t n, std::size_t k) {
  quant::QuantizedTensor q = quant::QuantizedTensor::allocate(4, quant::Symmetry::kSym, n, k, k);
  for (std::size_t r = 0; r < n; ++r) {
    q.scales[r] = 0.01f;
    for (std::size_t c = 0; c < k; ++c) q.set_code(r, c, static_cast<int>((r * 2654435761u + c * 40503u) % 16) - 8);
  }
  return PackedInt4Weights::from_quantized(q, "bench");
}

QuantizedActivations synthetic_activations(std::size_t m, std::size_t k) {
  QuantizedActivations a;
  a.resize(m, k);
  for (std::size_t t = 0; t < m; ++t) {
    for (std::size_t j = 0; j < a.k_pad; ++j)
      a.codes[t * a.k_pad + j] = static_cast<std::int8_t>(j < k ? static_cast<int>((t * 31 + j * 7) % 16) - 8 : 0);
    a.scales[t] = 0.02f;
    a.offsets[t] = 0;
  }
  return a;
}

class EventTimer {
 public:
  EventTimer() {
    DFROT_CUDA_CHECK(cudaEventCreate(&start_));
    DFROT_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  template <class F>
  double seconds(F&& launch, int reps) {
    launch();  // warm-up
    DFROT_CUDA_CHECK(cudaEventRecord(start_));
    for (int i = 0; i < reps; ++i) launch();
    DFROT_CUDA_CHECK(cudaEventRecord(stop_));
    DFROT_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    DFROT_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return static_cast<double>(ms) * 1e-3 / reps;
  }

 private:
  cudaEvent_t start_{}, stop_{};
};

/// Y [m × n] = X [m × k] · Wᵀ in FP16 with FP32 accumulation (column-major cuBLAS: Yᵀ = W · Xᵀ).
double cublas_fp16_seconds(std::size_t m, std::size_t n, std::size_t k) {
  dfrot::cuda::DeviceBuffer<__half> x(m * k), w(n * k), y(m * n);
  DFROT_CUDA_CHECK(cudaMemset(x.data(), 0, m * k * sizeof(__half)));
  DFROT_CUDA_CHECK(cudaMemset(w.data(), 0, n * k * sizeof(__half)));
  dfrot::cuda::CublasHandle const h;
  float const one = 1.0f, zero = 0.0f;
  auto const launch = [&] {
    DFROT_CUBLAS_CHECK(cublasGemmEx(h.get(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                                           static_cast<int>(k), &one, w.data(), CUDA_R_16F, static_cast<int>(k),
                                           x.data(), CUDA_R_16F, static_cast<int>(k), &zero, y.data(), CUDA_R_16F,
                                           static_cast<int>(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  };
  EventTimer timer;
  return timer.seconds(launch, 20);
}

void BM_gemm_w4a4_cuda(benchmark::State& state, W4A4Path path) {
  if (dfrot::cuda::device_count() == 0) {
    state.SkipWithError("no CUDA device");
    return;
  }
  auto const m = static_cast<std::size_t>(state.range(0)), n = static_cast<std::size_t>(state.range(1)),
             k = static_cast<std::size_t>(state.range(2));
  GemmW4A4 const gemm(synthetic_weights(n, k));
  if (path == W4A4Path::kInt4Mma && gemm.arch().major != 8) {
    state.SkipWithError("no int4 tensor cores on this GPU");
    return;
  }
  DeviceActivations const a = gemm.upload(synthetic_activations(m, k), &path);
  dfrot::cuda::DeviceBuffer<float> out(m * n);
  double const base = cublas_fp16_seconds(m, n, k);
  EventTimer timer;
  double s = 0;
  for (auto _ : state) {
    s = timer.seconds([&] { gemm.run(a, out.data(), n); }, 20);
    state.SetIterationTime(s);
  }
  state.counters["TOPS"] = 2.0 * static_cast<double>(m * n * k) / s * 1e-12;
  state.counters["x_cublas_fp16"] = base / s;
  state.SetLabel(to_string(path));
}

void shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t nk : {4096, 8192}) b->Args({4096, nk, nk});  // G4 prefill
  for (std::int64_t m : {1, 16}) b->Args({m, 4096, 4096});        // G5 decode
  b->Args({2048, 1536, 576});                                       // SmolLM2 up/gate_proj
  b->UseManualTime()->Unit(benchmark::kMicrosecond)->Iterations(3);
}

}  // namespace

BENCHMARK_CAPTURE(BM_gemm_w4a4_cuda, int8_mma, W4A4Path::kInt8Mma)->Apply(shapes);
BENCHMARK_CAPTURE(BM_gemm_w4a4_cuda, int4_mma, W4A4Path::kInt4Mma)->Apply(shapes);
