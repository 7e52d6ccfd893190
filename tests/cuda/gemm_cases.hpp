// SPDX-License-Identifier: Apache-2.0
// CPU side of the CUDA GEMM tests, compiled by the host compiler (Eigen, OpenMP): random int4
// weights, quantized activations and the CPU kernels' result they must equal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dfrot/gemm/packed_int4_weights.hpp"
#include "dfrot/gemm/quantized_activations.hpp"

namespace dfrot::test_cuda {

struct GemmCase {
  gemm::PackedInt4Weights w;
  gemm::QuantizedActivations a;
  std::vector<float> expected;  ///< gemm::gemm_w4a4 on the CPU, [m × n_out]
};

/// Gaussian weights (4-bit sym RTN) and activations (`bits`, symmetric or not, per token).
GemmCase make_gemm_case(std::size_t m, std::size_t n_out, std::size_t n_in, int bits, bool asymmetric,
                        std::uint64_t seed);

std::vector<float> gaussian_values(std::size_t n, std::uint64_t seed);

}  // namespace dfrot::test_cuda
