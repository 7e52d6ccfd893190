// SPDX-License-Identifier: Apache-2.0
#include "cuda/gemm_cases.hpp"

#include "dfrot/gemm/gemm.hpp"
#include "gemm/gemm_test_data.hpp"

namespace dfrot::test_cuda {

GemmCase make_gemm_case(std::size_t m, std::size_t n_out, std::size_t n_in, int bits, bool asymmetric,
                        std::uint64_t seed) {
  GemmCase c;
  c.w = gemm::PackedInt4Weights::from_quantized(gemm::test_data::quantized_weights(n_out, n_in, seed), "w");
  std::vector<float> const x = gemm::test_data::gaussian(m * n_in, seed + 1, 1.0, asymmetric ? 0.5 : 0.0);
  quant::Symmetry const s = asymmetric ? quant::Symmetry::kAsym : quant::Symmetry::kSym;
  gemm::quantize_activations_for_gemm(MatrixView<float const>(x.data(), m, n_in), gemm::test_data::act_config(bits, s), c.a);
  c.expected.assign(m * n_out, 0.0f);
  gemm::gemm_w4a4(c.a, c.w, MatrixView<float>(c.expected.data(), m, n_out), 1);
  return c;
}

std::vector<float> gaussian_values(std::size_t n, std::uint64_t seed) { return gemm::test_data::gaussian(n, seed); }

}  // namespace dfrot::test_cuda
