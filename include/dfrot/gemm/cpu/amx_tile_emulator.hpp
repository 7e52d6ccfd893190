// SPDX-License-Identifier: Apache-2.0
// EmulatedTiles: a scalar model of the AMX tile instructions the AMX GEMM kernels use, with the
// tile operations' shape rules checked, so the kernels' blocking, packing and epilogue are tested
// on CPUs without AMX (the hardware path is then tested wherever AMX exists).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "dfrot/gemm/cpu/amx_tiles.hpp"

namespace dfrot::gemm::cpu::amx {

/// Same static interface as HardwareTiles. The state is per thread, as the hardware's is: using a
/// tile on a thread that has not configured it aborts (the hardware raises #UD there).
struct EmulatedTiles {
  struct Tile {
    int rows = 0;
    int colsb = 0;
    alignas(64) std::uint8_t bytes[kTileRows][kTileBytes] = {};
  };
  struct State {
    bool configured = false;
    Tile tiles[8];
  };
  static State& state() noexcept {
    thread_local State s;
    return s;
  }
  static void fail(char const* what) noexcept {
    std::fprintf(stderr, "dfrot: emulated AMX: %s\n", what);
    std::abort();
  }
  static Tile& tile(int t) noexcept {
    State& s = state();
    if (!s.configured) fail("tile used before ldtilecfg on this thread");
    return s.tiles[t];
  }

  static void configure() noexcept {
    TileConfig const cfg = kernel_tile_config();
    State& s = state();
    if (cfg.palette_id != 1) fail("palette must be 1");
    for (int t = 0; t < 8; ++t) {
      if (cfg.rows[t] > kTileRows || cfg.colsb[t] > kTileBytes) fail("tile larger than 16 x 64 B");
      s.tiles[t].rows = cfg.rows[t];
      s.tiles[t].colsb = cfg.colsb[t];
      std::memset(s.tiles[t].bytes, 0, sizeof s.tiles[t].bytes);  // ldtilecfg zeroes the tiles
    }
    s.configured = true;
  }
  static void release() noexcept { state().configured = false; }

  template <int C>
  static void zero() noexcept {
    std::memset(tile(C).bytes, 0, sizeof tile(C).bytes);
  }

  /// tileloadd: row r ← colsb bytes at p + r·stride (rows beyond the configured ones are zeroed).
  template <int T>
  static void load(void const* p, std::size_t stride) noexcept {
    Tile& t = tile(T);
    auto const* src = static_cast<std::uint8_t const*>(p);
    std::memset(t.bytes, 0, sizeof t.bytes);
    for (int r = 0; r < t.rows; ++r) {
      std::memcpy(t.bytes[r], src + static_cast<std::size_t>(r) * stride, static_cast<std::size_t>(t.colsb));
    }
  }

  /// tdpbsud: C[m][n] += Σ_k Σ_i int8(A[m][4k+i]) · uint8(B[k][4n+i]) over K = colsb(A)/4 = rows(B).
  template <int I, int J>
  static void dot() noexcept {
    Tile& c = tile(2 * I + J);
    Tile const& a = tile(4 + I);
    Tile const& b = tile(6 + J);
    if (a.rows != c.rows || a.colsb / 4 != b.rows || b.colsb != c.colsb || a.colsb % 4 != 0) {
      fail("tdpbsud operand shapes do not match");
    }
    for (int m = 0; m < c.rows; ++m) {
      for (int n = 0; n < c.colsb / 4; ++n) {
        std::int32_t acc;
        std::memcpy(&acc, c.bytes[m] + 4 * n, 4);
        for (int k = 0; k < b.rows; ++k) {
          for (int i = 0; i < 4; ++i) {
            acc += static_cast<std::int32_t>(static_cast<std::int8_t>(a.bytes[m][4 * k + i])) *
                   static_cast<std::int32_t>(b.bytes[k][4 * n + i]);
          }
        }
        std::memcpy(c.bytes[m] + 4 * n, &acc, 4);
      }
    }
  }

  /// tilestored: colsb bytes of row r → p + r·stride.
  template <int C>
  static void store(void* p, std::size_t stride) noexcept {
    Tile const& t = tile(C);
    auto* dst = static_cast<std::uint8_t*>(p);
    for (int r = 0; r < t.rows; ++r) {
      std::memcpy(dst + static_cast<std::size_t>(r) * stride, t.bytes[r], static_cast<std::size_t>(t.colsb));
    }
  }
};

}  // namespace dfrot::gemm::cpu::amx
