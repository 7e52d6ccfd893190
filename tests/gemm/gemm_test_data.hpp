// SPDX-License-Identifier: Apache-2.0
// Test data of the GEMM tests (CPU and CUDA): Gaussian matrices, 4-bit weights, activation
// quantizer settings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/rng.hpp"
#include "dfrot/quant/quant_config.hpp"
#include "dfrot/quant/rtn.hpp"

namespace dfrot::gemm::test_data {

inline std::vector<float> gaussian(std::size_t n, std::uint64_t seed, double sd = 1.0, double mean = 0.0) {
  Rng rng(seed);
  std::vector<float> x(n);
  for (auto& v : x) v = static_cast<float>(rng.normal() * sd + mean);
  return x;
}

/// 4-bit symmetric per-channel RTN weights of a Gaussian [n_out × n_in] matrix.
inline quant::QuantizedTensor quantized_weights(std::size_t n_out, std::size_t n_in, std::uint64_t seed) {
  std::vector<float> const w = gaussian(n_out * n_in, seed, 0.05);
  quant::QuantConfig cfg;  // 4-bit sym per channel
  return quant::quantize_weights(MatrixView<float const>(w.data(), n_out, n_in), cfg);
}

inline quant::QuantConfig act_config(int bits, quant::Symmetry s, float clip = 1.0f) {
  quant::QuantConfig c;
  c.bits = bits;
  c.symmetry = s;
  c.clip_ratio = clip;
  return c;
}

}  // namespace dfrot::gemm::test_data
