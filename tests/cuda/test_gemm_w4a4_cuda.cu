// SPDX-License-Identifier: Apache-2.0
// The CUDA W4A4 GEMM (gemm/cuda/gemm_w4a4.cuh) against the CPU kernels: bit-identical outputs on
// both kernel paths, for symmetric/asymmetric 4-bit and 8-bit activations, odd shapes and the
// fused residual.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "cuda/gemm_cases.hpp"
#include "dfrot/core/cuda/device_buffer.hpp"
#include "dfrot/gemm/cuda/gemm_w4a4.cuh"

using namespace dfrot;
using namespace dfrot::gemm;
using namespace dfrot::gemm::cuda;
using dfrot::test_cuda::GemmCase;
using dfrot::test_cuda::make_gemm_case;

namespace {

struct Shape {
  std::size_t m, n_out, n_in;
  int bits;
  bool asymmetric;
};

}  // namespace

TEST_CASE("cuda gemm_w4a4: both kernel paths equal the CPU kernels bit for bit") {
  GpuArch const arch = current_gpu_arch();
  MESSAGE("GPU sm_" << arch.sm());
  std::vector<Shape> const shapes = {{1, 64, 64, 4, false},   {7, 20, 72, 4, false},  {64, 128, 576, 4, false},
                                     {130, 1536, 576, 4, true}, {65, 576, 1536, 4, false}, {33, 200, 130, 8, false},
                                     {17, 96, 256, 8, true},   {3, 49, 8, 4, true}};
  for (Shape const& c : shapes) {
    CAPTURE(c.m);
    CAPTURE(c.n_out);
    CAPTURE(c.n_in);
    CAPTURE(c.bits);
    CAPTURE(c.asymmetric);
    GemmCase const g = make_gemm_case(c.m, c.n_out, c.n_in, c.bits, c.asymmetric, 11 + c.n_in + c.m);
    QuantizedActivations const& a = g.a;
    std::vector<float> const& expected = g.expected;
    GemmW4A4 const gpu(g.w);
    std::vector<W4A4Path> paths = {W4A4Path::kInt8Mma};
    if (arch.major == 8 && c.bits == 4) paths.push_back(W4A4Path::kInt4Mma);
    for (W4A4Path const path : paths) {
      CAPTURE(to_string(path));
      std::vector<float> got(expected.size(), -1.0f);
      gpu.run_host(a, MatrixView<float>(got.data(), c.m, c.n_out), &path);
      CHECK(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("cuda gemm_w4a4: fused residual add and strided output") {
  std::size_t const m = 9, n = 70, k = 128;
  GemmCase const g = make_gemm_case(m, n, k, 4, false, 3);
  std::vector<float> expected = g.expected;
  std::vector<float> const residual = dfrot::test_cuda::gaussian_values(m * n, 8);
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = residual[i] + expected[i];
  GemmW4A4 const gpu(g.w);
  DeviceActivations const d = gpu.upload(g.a);
  std::size_t const stride = n + 6;
  dfrot::cuda::DeviceBuffer<float> res{std::span<float const>(residual)};
  dfrot::cuda::DeviceBuffer<float> out(m * stride);
  DFROT_CUDA_CHECK(cudaMemset(out.data(), 0, m * stride * sizeof(float)));
  gpu.run(d, out.data(), stride, res.data(), n);
  DFROT_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> const host = out.download();
  bool same = true, padding_untouched = true;
  for (std::size_t t = 0; t < m; ++t) {
    same = same && std::memcmp(host.data() + t * stride, expected.data() + t * n, n * sizeof(float)) == 0;
    for (std::size_t j = n; j < stride; ++j) padding_untouched = padding_untouched && host[t * stride + j] == 0.0f;
  }
  CHECK(same);
  CHECK(padding_untouched);
}

TEST_CASE("cuda gemm_w4a4: shape errors before launch") {
  GemmCase const weights = make_gemm_case(1, 16, 64, 4, false, 1);
  GemmCase const narrow = make_gemm_case(2, 16, 32, 4, false, 2);  // K = 32 activations for K = 64 weights
  GemmW4A4 const gpu(weights.w);
  std::vector<float> out(2 * 16);
  CHECK_THROWS_AS(gpu.run_host(narrow.a, MatrixView<float>(out.data(), 2, 16)), ShapeError);
  CHECK_THROWS_AS(gpu.run_host(weights.a, MatrixView<float>(out.data(), 2, 16)), ShapeError);  // wrong output rows
}
