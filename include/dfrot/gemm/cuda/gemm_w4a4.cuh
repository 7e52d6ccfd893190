// SPDX-License-Identifier: Apache-2.0
// GemmW4A4: the device layer of the CUDA W4A4 GEMM. Uploads one linear layer's int4 weights once
// (GPU layout, gpu_int4_weights.hpp), plans each call for the current GPU (gemm_w4a4_plan.hpp) and
// launches the int4-MMA (sm_80 … sm_89) or int8-MMA (sm_90, 8-bit activations) kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <cuda_runtime.h>

#include "dfrot/core/cuda/check.hpp"
#include "dfrot/core/cuda/device_buffer.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/gemm/cuda/gemm_w4a4_plan.hpp"
#include "dfrot/gemm/cuda/gemm_w4a4_sm80.cuh"
#include "dfrot/gemm/cuda/gemm_w4a4_sm90.cuh"
#include "dfrot/gemm/cuda/gpu_int4_weights.hpp"
#include "dfrot/gemm/packed_int4_weights.hpp"
#include "dfrot/gemm/quantized_activations.hpp"

namespace dfrot::gemm::cuda {

/// The compute capability of the current device.
inline GpuArch current_gpu_arch() {
  int dev = 0;
  DFROT_CUDA_CHECK(cudaGetDevice(&dev));
  GpuArch a;
  DFROT_CUDA_CHECK(cudaDeviceGetAttribute(&a.major, cudaDevAttrComputeCapabilityMajor, dev));
  DFROT_CUDA_CHECK(cudaDeviceGetAttribute(&a.minor, cudaDevAttrComputeCapabilityMinor, dev));
  return a;
}

/// Activations on the device, in the image the plan's kernel reads.
struct DeviceActivations {
  std::size_t m = 0;
  std::size_t k = 0;
  ActivationCodes codes = ActivationCodes::kSigned4;
  W4A4Path path = W4A4Path::kInt8Mma;
  std::size_t row_bytes = 0;
  dfrot::cuda::DeviceBuffer<std::uint8_t> image;
  dfrot::cuda::DeviceBuffer<float> scales;
  dfrot::cuda::DeviceBuffer<std::int32_t> offsets;
};

class GemmW4A4 {
 public:
  /// Uploads `w` (repacked to the GPU layout) to the current device.
  explicit GemmW4A4(PackedInt4Weights const& w)
      : host_(GpuInt4Weights::from_packed(w)),
        arch_(current_gpu_arch()),
        codes_(std::span<std::uint8_t const>(host_.codes)),
        scales_(std::span<float const>(host_.scales)),
        row_sums_(std::span<std::int32_t const>(host_.row_sums)) {
    host_.codes = {};  // the device copy is the one used
  }

  std::size_t n_out() const { return host_.n_out; }
  std::size_t n_in() const { return host_.n_in; }
  GpuArch arch() const { return arch_; }

  /// The plan of an [m × n_in] call with `codes` activations (`force`: a path for tests/benchmarks).
  GemmW4A4Plan plan(std::size_t m, ActivationCodes codes, W4A4Path const* force = nullptr) const {
    return plan_gemm_w4a4({m, host_.n_out, host_.n_in, codes}, arch_, force);
  }

  /// Uploads host activations in the image the planned kernel reads.
  DeviceActivations upload(QuantizedActivations const& a, W4A4Path const* force = nullptr) const {
    DFROT_THROW_IF(a.n_cols != host_.n_in, ShapeError, "gemm_w4a4 (cuda): activations are ", a.n_rows,
                   "x", a.n_cols, " but the weights expect K=", host_.n_in);
    DeviceActivations d;
    d.m = a.n_rows;
    d.k = a.n_cols;
    d.codes = classify_activation_codes(a);
    GemmW4A4Plan const p = plan(a.n_rows, d.codes, force);
    d.path = p.path;
    if (p.path == W4A4Path::kInt4Mma) {
      std::vector<std::uint8_t> const img = pack_activation_nibbles(a, p.k_pad, d.codes);
      d.image = dfrot::cuda::DeviceBuffer<std::uint8_t>(std::span<std::uint8_t const>(img));
      d.row_bytes = p.k_pad / 2;
    } else {
      std::vector<std::int8_t> const img = pad_activation_codes(a, p.k_pad);
      d.image = dfrot::cuda::DeviceBuffer<std::uint8_t>(std::span<std::uint8_t const>(
          reinterpret_cast<std::uint8_t const*>(img.data()), img.size()));
      d.row_bytes = p.k_pad;
    }
    d.scales = dfrot::cuda::DeviceBuffer<float>(std::span<float const>(a.scales.data(), a.n_rows));
    d.offsets = dfrot::cuda::DeviceBuffer<std::int32_t>(std::span<std::int32_t const>(a.offsets.data(), a.n_rows));
    return d;
  }

  /// out [m × n_out] (device, row stride out_stride) = dequantized A · Wᵀ (+ residual when given).
  void run(DeviceActivations const& a, float* out, std::size_t out_stride, float const* residual = nullptr,
           std::size_t residual_stride = 0, cudaStream_t stream = nullptr) const {
    if (a.m == 0) return;
    W4A4Path const path = a.path;
    GemmW4A4Plan const p = plan(a.m, a.codes, &path);
    W4A4KernelArgs args;
    args.a = a.image.data();
    args.a_row_bytes = a.row_bytes;
    args.a_scales = a.scales.data();
    args.a_offsets = a.offsets.data();
    args.w = codes_.data();
    args.w_row_bytes = host_.row_bytes();
    args.w_scales = scales_.data();
    args.w_row_sums = row_sums_.data();
    args.residual = residual;
    args.residual_stride = residual_stride;
    args.out = out;
    args.out_stride = out_stride;
    args.m = static_cast<int>(a.m);
    args.n = static_cast<int>(host_.n_out);
    args.k_steps = static_cast<int>(p.k_steps);
    dim3 const grid(p.grid_x, p.grid_y);
    if (p.path == W4A4Path::kInt4Mma) {
      if (a.codes == ActivationCodes::kUnsigned4) {
        sm80::gemm_w4a4_int4_mma_kernel<true><<<grid, p.threads, 0, stream>>>(args);
      } else {
        sm80::gemm_w4a4_int4_mma_kernel<false><<<grid, p.threads, 0, stream>>>(args);
      }
    } else {
      sm90::gemm_w4a4_int8_mma_kernel<<<grid, p.threads, 0, stream>>>(args);
    }
    DFROT_CUDA_CHECK(cudaGetLastError());
  }

  /// Host convenience (tests, tools): uploads `a`, runs, downloads into `out` [m × n_out].
  void run_host(QuantizedActivations const& a, MatrixView<float> out, W4A4Path const* force = nullptr) const {
    DFROT_THROW_IF(out.rows() != a.n_rows || out.cols() != host_.n_out, ShapeError,
                   "gemm_w4a4 (cuda): output is ", out.rows(), "x", out.cols(), ", expected ", a.n_rows,
                   "x", host_.n_out);
    DeviceActivations const d = upload(a, force);
    dfrot::cuda::DeviceBuffer<float> dev_out(a.n_rows * host_.n_out);
    run(d, dev_out.data(), host_.n_out);
    DFROT_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> const host = dev_out.download();
    for (std::size_t t = 0; t < a.n_rows; ++t)
      for (std::size_t o = 0; o < host_.n_out; ++o) out(t, o) = host[t * host_.n_out + o];
  }

 private:
  GpuInt4Weights host_;
  GpuArch arch_;
  dfrot::cuda::DeviceBuffer<std::uint8_t> codes_;
  dfrot::cuda::DeviceBuffer<float> scales_;
  dfrot::cuda::DeviceBuffer<std::int32_t> row_sums_;
};

}  // namespace dfrot::gemm::cuda
