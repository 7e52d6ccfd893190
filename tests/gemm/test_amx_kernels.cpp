// SPDX-License-Identifier: Apache-2.0
// The AMX GEMM kernels (gemm/cpu/gemm_kernels_amx.hpp) on the scalar tile model everywhere (their
// blocking, weight widening, token tails and epilogue), and on the hardware tiles where the CPU has
// AMX (from fresh threads: the tile configuration is per-thread state).
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "dfrot/core/aligned_buffer.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/gemm/cpu/amx_tile_emulator.hpp"
#include "dfrot/gemm/cpu/amx_tiles.hpp"
#include "dfrot/gemm/cpu/gemm_kernels_amx.hpp"
#include "dfrot/gemm/cpu/gemm_kernels_scalar.hpp"
#include "dfrot/gemm/gemm.hpp"
#include "dfrot/gemm/packed_int4_weights.hpp"
#include "dfrot/gemm/packed_int8_weights.hpp"
#include "dfrot/gemm/quantized_activations.hpp"
#include "gemm/gemm_test_data.hpp"
#include "support/test_util.hpp"

#if DFROT_X86

using namespace dfrot;
using namespace dfrot::gemm;
using test_data::act_config;
using test_data::gaussian;
using test_data::quantized_weights;

namespace amx_test {

struct Shape {
  std::size_t m, n_out, n_in;
};

// Token tails (< 16, 16–31, whole blocks + rest), odd panel counts, n_out inside a panel, k not a
// multiple of 64 (and below one tile step).
inline constexpr Shape kShapes[] = {{16, 16, 64},  {31, 17, 8},   {32, 48, 72},  {33, 40, 172},
                             {70, 33, 576}, {5, 16, 64},   {64, 192, 136}, {97, 80, 1536}};

/// kernel(g, p0, p1) into a fresh output (filled with -7 so unwritten entries show).
template <class Args, class Kernel>
inline std::vector<float> run(Args g, std::size_t m, std::size_t n_out, std::size_t p0, std::size_t p1,
                       Kernel&& kernel) {
  std::vector<float> y(m * n_out, -7.0f);
  g.out = y.data();
  g.out_stride = n_out;
  kernel(g, p0, p1);
  return y;
}

inline bool same_bits(std::vector<float> const& a, std::vector<float> const& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace amx_test

using amx_test::run;
using amx_test::Shape;

TEST_SUITE("gemm") {
  TEST_CASE("amx tile model: tdpbsud multiplies signed A bytes by unsigned B bytes into int32") {
    using Tiles = cpu::amx::EmulatedTiles;
    alignas(64) std::int8_t a[16][64] = {};
    alignas(64) std::uint8_t b[16][64] = {};
    alignas(64) std::int32_t c[16][16] = {};
    a[0][0] = -1;  // × B[0][0] = 255 → −255 in C[0][0]
    b[0][0] = 255;
    a[3][5] = 7;   // k = 5: B row 1, byte 4·n + 1; n = 2 → C[3][2] += 7·200
    b[1][9] = 200;
    a[15][63] = -128;  // k = 63: B row 15, byte 4·15 + 3 → C[15][15] += −128·255
    b[15][63] = 255;
    Tiles::configure();
    Tiles::zero<0>();
    Tiles::load<4>(a, 64);
    Tiles::load<6>(b, 64);
    Tiles::dot<0, 0>();
    Tiles::store<0>(c, 64);
    Tiles::release();
    CHECK(c[0][0] == -255);
    CHECK(c[3][2] == 1400);
    CHECK(c[15][15] == -128 * 255);
    CHECK(c[1][1] == 0);
  }

  TEST_CASE("amx kernels on the tile model equal the scalar reference bit for bit") {
    if (detected_isa() < Isa::kAvx512Vnni) {
      MESSAGE("skipped: the AMX kernels' widening and epilogue need AVX-512 (CPU has ",
              to_string(detected_isa()), ")");
      return;
    }
    for (Shape const sh : amx_test::kShapes) {
      PackedInt4Weights const w4 =
          PackedInt4Weights::from_quantized(quantized_weights(sh.n_out, sh.n_in, test::seed() + sh.n_in), "w4");
      std::vector<float> const wf = gaussian(sh.n_out * sh.n_in, test::seed() + sh.n_out, 0.05);
      PackedInt8Weights const w8 =
          PackedInt8Weights::quantize(MatrixView<float const>(wf.data(), sh.n_out, sh.n_in), "w8");
      std::vector<float> const x = gaussian(sh.m * sh.n_in, test::seed() + sh.m, 2.0, 0.3);
      AlignedBuffer<std::uint8_t> scratch(cpu::amx::amx_scratch_bytes(w4.k_pad()));
      for (int bits : {4, 8}) {
        for (auto s : {quant::Symmetry::kSym, quant::Symmetry::kAsym}) {
          CAPTURE(sh.m);
          CAPTURE(sh.n_out);
          CAPTURE(sh.n_in);
          CAPTURE(bits);
          QuantizedActivations a;
          quantize_activations_for_gemm(MatrixView<float const>(x.data(), sh.m, sh.n_in),
                                        act_config(bits, s), a);
          REQUIRE(a.k_pad % cpu::amx::kTileK == 0);
          cpu::IntGemmArgs const g4{a.codes.data(), a.k_pad, a.scales.data(), a.offsets.data(),
                                    a.code_sums.data(), &w4, nullptr, 0};
          cpu::Int8GemmArgs const g8{a.codes.data(), a.k_pad, a.scales.data(), a.offsets.data(),
                                     a.code_sums.data(), &w8, nullptr, 0};
          // All panels, and a sub-range starting at an odd panel (a thread's share).
          std::size_t const np = w4.n_panels();
          for (auto const& range : {std::pair<std::size_t, std::size_t>{0, np}, {np > 1 ? 1 : 0, np}}) {
            std::size_t const p0 = range.first, p1 = range.second;  // clang 14: no lambda capture of bindings
            CAPTURE(p0);
            auto const ref4 = run(g4, sh.m, sh.n_out, p0, p1, [&](auto const& g, std::size_t b, std::size_t e) {
              cpu::scalar::int_gemm(g, 0, sh.m, b, e);
            });
            auto const amx4 = run(g4, sh.m, sh.n_out, p0, p1, [&](auto const& g, std::size_t b, std::size_t e) {
              cpu::amx::int_gemm<cpu::amx::EmulatedTiles>(g, 0, sh.m, b, e, scratch.data());
            });
            REQUIRE(amx_test::same_bits(amx4, ref4));
            if (bits == 8) {
              auto const ref8 = run(g8, sh.m, sh.n_out, p0, p1, [&](auto const& g, std::size_t b, std::size_t e) {
                cpu::scalar::int8_gemm(g, 0, sh.m, b, e);
              });
              auto const amx8 = run(g8, sh.m, sh.n_out, p0, p1, [&](auto const& g, std::size_t b, std::size_t e) {
                cpu::amx::int8_gemm<cpu::amx::EmulatedTiles>(g, 0, sh.m, b, e, scratch.data());
              });
              REQUIRE(amx_test::same_bits(amx8, ref8));
            }
          }
        }
      }
    }
  }

  TEST_CASE("amx dispatch: decode shapes stay on VNNI, prefill shapes use AMX") {
    CHECK(int_gemm_level(Isa::kAmx, 1) == Isa::kAvx512Vnni);
    CHECK(int_gemm_level(Isa::kAmx, kAmxMinTokens - 1) == Isa::kAvx512Vnni);
    CHECK(int_gemm_level(Isa::kAmx, kAmxMinTokens) ==
          (kMaxCompiledIsa >= Isa::kAmx ? Isa::kAmx : Isa::kAvx512Vnni));
    CHECK(int_gemm_level(Isa::kAvx2, 512) == Isa::kAvx2);
    CHECK(int_gemm_level(Isa::kAvx512, 512) == Isa::kAvx2);
  }

  TEST_CASE("amx kernels on the hardware tiles, from fresh threads, equal the scalar reference") {
    if (detected_isa() < Isa::kAmx) {
      std::string const why = amx_unavailable_reason();
      MESSAGE("skipped: no usable AMX-INT8 on this CPU (", std::string(to_string(detected_isa())), ")",
              why.empty() ? std::string() : ": " + why);
      return;
    }
    Shape const sh{70, 80, 576};
    PackedInt4Weights const w =
        PackedInt4Weights::from_quantized(quantized_weights(sh.n_out, sh.n_in, test::seed()), "w");
    std::vector<float> const x = gaussian(sh.m * sh.n_in, test::seed() + 1, 2.0, 0.3);
    QuantizedActivations a;
    quantize_activations_for_gemm(MatrixView<float const>(x.data(), sh.m, sh.n_in),
                                  act_config(4, quant::Symmetry::kAsym), a);
    cpu::IntGemmArgs const g{a.codes.data(), a.k_pad, a.scales.data(), a.offsets.data(),
                             a.code_sums.data(), &w, nullptr, 0};
    auto const ref = run(g, sh.m, sh.n_out, 0, w.n_panels(), [&](auto const& gg, std::size_t b, std::size_t e) {
      cpu::scalar::int_gemm(gg, 0, sh.m, b, e);
    });
    // Two threads that never ran a tile instruction, each on its half of the panels.
    std::vector<float> y(sh.m * sh.n_out, -7.0f);
    cpu::IntGemmArgs gy = g;
    gy.out = y.data();
    gy.out_stride = sh.n_out;
    std::size_t const half = w.n_panels() / 2;
    auto worker = [&](std::size_t p0, std::size_t p1) {
      AlignedBuffer<std::uint8_t> scratch(cpu::amx::amx_scratch_bytes(w.k_pad()));
      cpu::amx::int_gemm<cpu::amx::HardwareTiles>(gy, 0, sh.m, p0, p1, scratch.data());
    };
    std::thread t0(worker, std::size_t{0}, half), t1(worker, half, w.n_panels());
    t0.join();
    t1.join();
    CHECK(amx_test::same_bits(y, ref));
    // And through gemm_w4a4 with an OpenMP team (each worker configures its own tiles).
    std::vector<float> z(sh.m * sh.n_out, -7.0f);
    gemm_w4a4(a, w, MatrixView<float>(z.data(), sh.m, sh.n_out), 2);
    CHECK(amx_test::same_bits(z, ref));
  }
}

#endif
