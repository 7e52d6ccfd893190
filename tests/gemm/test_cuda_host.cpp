// SPDX-License-Identifier: Apache-2.0
// Host side of the CUDA W4A4 GEMM (gemm/cuda/*.hpp), tested without a GPU: the GPU weight and
// activation images and the kernel plan with its can_implement checks.
#include <doctest/doctest.h>

#include <vector>

#include "dfrot/gemm/cuda/gemm_w4a4_plan.hpp"
#include "dfrot/gemm/cuda/gpu_int4_weights.hpp"
#include "dfrot/gemm/quantized_activations.hpp"
#include "gemm/gemm_test_data.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::gemm;
using namespace dfrot::gemm::cuda;

namespace {

QuantizedActivations activations(std::size_t m, std::size_t k, int bits, quant::Symmetry s, std::uint64_t seed) {
  std::vector<float> const x = test_data::gaussian(m * k, seed, 1.0, s == quant::Symmetry::kAsym ? 0.7 : 0.0);
  QuantizedActivations a;
  quantize_activations_for_gemm(MatrixView<float const>(x.data(), m, k), test_data::act_config(bits, s), a);
  return a;
}

}  // namespace

TEST_SUITE("gemm") {
  TEST_CASE("GpuInt4Weights: the GPU image holds the panel layout's codes, scales and row sums") {
    for (auto const& shape : {std::pair<std::size_t, std::size_t>{16, 64}, {20, 72}, {65, 130}, {3, 8}}) {
    std::size_t const n_out = shape.first, n_in = shape.second;  // clang 14: no lambda capture of bindings
      CAPTURE(n_out);
      CAPTURE(n_in);
      PackedInt4Weights const w =
          PackedInt4Weights::from_quantized(test_data::quantized_weights(n_out, n_in, test::seed() + n_in), "w");
      GpuInt4Weights const g = GpuInt4Weights::from_packed(w);
      CHECK(g.n_pad == round_up(n_out, 64));
      CHECK(g.k_pad == round_up(n_in, 64));
      CHECK(g.codes.size() == g.n_pad * g.k_pad / 2);
      bool codes_ok = true;
      for (std::size_t o = 0; o < g.n_pad; ++o)
        for (std::size_t k = 0; k < g.k_pad; ++k) {
          int const expected = (o < n_out && k < n_in) ? w.code(o, k) : 0;
          codes_ok = codes_ok && g.code(o, k) == expected;
        }
      CHECK(codes_ok);
      // Nibble order: W[o, 0] in the low nibble of byte 0, two's complement.
      CHECK(((g.codes[0] & 0xF) ^ 8) - 8 == w.code(0, 0));
      for (std::size_t o = 0; o < g.n_pad; ++o) {
        CHECK(g.scales[o] == (o < n_out ? w.scales()[o] : 0.0f));
        CHECK(g.row_sums[o] == (o < n_out ? w.row_sums()[o] : 0));
      }
    }
  }

  TEST_CASE("activation images: nibbles for the int4 MMA, padded int8 codes for the int8 MMA") {
    QuantizedActivations const sym = activations(5, 70, 4, quant::Symmetry::kSym, test::seed());
    QuantizedActivations const asym = activations(5, 70, 4, quant::Symmetry::kAsym, test::seed() + 1);
    QuantizedActivations const a8 = activations(5, 70, 8, quant::Symmetry::kSym, test::seed() + 2);
    CHECK(classify_activation_codes(sym) == ActivationCodes::kSigned4);
    CHECK(classify_activation_codes(asym) == ActivationCodes::kUnsigned4);
    CHECK(classify_activation_codes(a8) == ActivationCodes::kInt8);
    for (auto const* a : {&sym, &asym}) {
      ActivationCodes const c = classify_activation_codes(*a);
      std::vector<std::uint8_t> const img = pack_activation_nibbles(*a, 128, c);
      REQUIRE(img.size() == 5 * 64);
      bool ok = true;
      for (std::size_t t = 0; t < 5; ++t)
        for (std::size_t k = 0; k < 128; ++k) {
          int u = (img[t * 64 + k / 2] >> (4 * (k % 2))) & 0xF;
          if (c == ActivationCodes::kSigned4 && u >= 8) u -= 16;
          ok = ok && u == (k < 70 ? a->row(t)[k] : 0);
        }
      CHECK(ok);
    }
    std::vector<std::int8_t> const img8 = pad_activation_codes(a8, 128);
    bool ok = true;
    for (std::size_t t = 0; t < 5; ++t)
      for (std::size_t k = 0; k < 128; ++k) ok = ok && img8[t * 128 + k] == (k < 70 ? a8.row(t)[k] : 0);
    CHECK(ok);
    CHECK_THROWS_AS(pack_activation_nibbles(a8, 128, ActivationCodes::kInt8), UsageError);
    CHECK_THROWS_AS(pack_activation_nibbles(a8, 128, ActivationCodes::kSigned4), UsageError);  // codes too wide
    CHECK_THROWS_AS(pack_activation_nibbles(sym, 64, ActivationCodes::kSigned4), ShapeError);  // k_pad < K
    CHECK_THROWS_AS(pad_activation_codes(a8, 100), ShapeError);                                // not a multiple of 64
  }

  TEST_CASE("plan_gemm_w4a4: int4 MMA on sm_80 … sm_89, int8 MMA on Hopper and for 8-bit activations") {
    W4A4Problem const p{100, 1536, 576, ActivationCodes::kSigned4};
    GemmW4A4Plan const a100 = plan_gemm_w4a4(p, {8, 0});
    CHECK(a100.path == W4A4Path::kInt4Mma);
    CHECK(a100.k_pad == 576);
    CHECK(a100.n_pad == 1536);
    CHECK(a100.grid_x == 24);
    CHECK(a100.grid_y == 2);
    CHECK(a100.k_steps == 9);
    CHECK(plan_gemm_w4a4(p, {8, 9}).path == W4A4Path::kInt4Mma);
    CHECK(plan_gemm_w4a4(p, {9, 0}).path == W4A4Path::kInt8Mma);   // H100 / H200
    CHECK(plan_gemm_w4a4(p, {12, 0}).path == W4A4Path::kInt8Mma);
    W4A4Problem p8 = p;
    p8.codes = ActivationCodes::kInt8;
    CHECK(plan_gemm_w4a4(p8, {8, 6}).path == W4A4Path::kInt8Mma);
    W4A4Path const int8 = W4A4Path::kInt8Mma, int4 = W4A4Path::kInt4Mma;
    CHECK(plan_gemm_w4a4(p, {8, 0}, &int8).path == W4A4Path::kInt8Mma);
    CHECK_THROWS_AS(plan_gemm_w4a4(p, {9, 0}, &int4), UsageError);
    CHECK_THROWS_AS(plan_gemm_w4a4(p8, {8, 0}, &int4), UsageError);
    // Odd shapes are padded, not refused.
    GemmW4A4Plan const odd = plan_gemm_w4a4({1, 65, 70, ActivationCodes::kUnsigned4}, {8, 6});
    CHECK(odd.k_pad == 128);
    CHECK(odd.n_pad == 128);
    CHECK(odd.grid_y == 1);
  }

  TEST_CASE("w4a4_cannot_implement: old GPUs, empty problems, K overflow, too many tokens") {
    W4A4Problem const p{16, 64, 64, ActivationCodes::kSigned4};
    CHECK(w4a4_cannot_implement(p, {8, 0}).empty());
    CHECK(w4a4_cannot_implement(p, {7, 5}).find("sm_80") != std::string::npos);
    CHECK_THROWS_WITH_AS(plan_gemm_w4a4(p, {7, 0}), doctest::Contains("sm_70"), UsageError);
    CHECK(!w4a4_cannot_implement({16, 0, 64, ActivationCodes::kSigned4}, {8, 0}).empty());
    CHECK(w4a4_cannot_implement({16, 64, kMaxK, ActivationCodes::kSigned4}, {8, 0}).find("overflow") != std::string::npos);
    CHECK(w4a4_cannot_implement({65536 * 64, 64, 64, ActivationCodes::kSigned4}, {9, 0}).find("grid") != std::string::npos);
    CHECK(w4a4_cannot_implement({0, 64, 64, ActivationCodes::kSigned4}, {9, 0}).empty());  // nothing to do
  }
}
