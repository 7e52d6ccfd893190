// SPDX-License-Identifier: Apache-2.0
// The CUDA FWHT against the CPU stage order.
#include <doctest/doctest.h>

#include <vector>

#include "dfrot/hadamard/cuda/fwht.cuh"

TEST_CASE("cuda fwht_rows: bit-identical to the CPU stage order for n = 2 .. 8192") {
  for (std::size_t n = 2; n <= 8192; n *= 2) {
    std::size_t const rows = 3;
    std::vector<float> host(rows * n);
    for (std::size_t i = 0; i < host.size(); ++i) host[i] = float((i * 2654435761u) % 1000) / 250.0f - 2.0f;
    std::vector<float> expected = host;
    for (std::size_t r = 0; r < rows; ++r) {
      float* x = expected.data() + r * n;
      for (std::size_t h = 1; h < n; h <<= 1)
        for (std::size_t i = 0; i < n; i += 2 * h)
          for (std::size_t j = i; j < i + h; ++j) {
            float const a = x[j], b = x[j + h];
            x[j] = a + b;
            x[j + h] = a - b;
          }
    }
    float* device = nullptr;
    DFROT_CUDA_CHECK(cudaMalloc(&device, host.size() * sizeof(float)));
    DFROT_CUDA_CHECK(cudaMemcpy(device, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice));
    dfrot::hadamard::cuda::fwht_rows(device, rows, n, n, 1.0f);
    DFROT_CUDA_CHECK(cudaMemcpy(host.data(), device, host.size() * sizeof(float), cudaMemcpyDeviceToHost));
    DFROT_CUDA_CHECK(cudaFree(device));
    CHECK(host == expected);
  }
}

TEST_CASE("cuda fwht_rows: unsupported lengths are rejected before launch") {
  CHECK_THROWS_AS(dfrot::hadamard::cuda::fwht_rows<float>(nullptr, 1, 12, 12, 1.0f), dfrot::ShapeError);
}
