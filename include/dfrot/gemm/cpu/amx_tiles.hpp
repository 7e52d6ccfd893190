// SPDX-License-Identifier: Apache-2.0
// AMX tile operations as the AMX GEMM kernels use them: one fixed tile configuration and the five
// instructions (ldtilecfg, tilezero, tileloadd, tdpbsud, tilestored) behind a small static
// interface, so the same kernel also runs on the scalar tile model of amx_tile_emulator.hpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dfrot/config.hpp"
#include "dfrot/core/target.hpp"

#if DFROT_X86
#include <immintrin.h>
#endif

namespace dfrot::gemm::cpu::amx {

/// \file
/// **Tile plan** (all eight tiles 16 rows × 64 bytes, palette 1):
/// - tmm0–tmm3: int32 accumulators C[16 tokens × 16 channels], C(i, j) = tmm(2i + j) for token
///   half i and panel j of a 32 × 32 output block;
/// - tmm4, tmm5: activation codes A[16 tokens × 64 k] (int8, signed), token halves 0 and 1;
/// - tmm6, tmm7: weights B[16 k-quads × (16 channels × 4)] (uint8, unsigned) of panels 0 and 1 —
///   the VNNI "K/4 rows × N·4 bytes" layout, i.e. one 64-byte panel block per row.
/// `tdpbsud` (signed A × unsigned B) matches the u = w + offset weights of the panel layouts.

inline constexpr int kTileRows = 16;
inline constexpr std::size_t kTileBytes = 64;  ///< bytes per tile row (= k per step)
inline constexpr std::size_t kTileK = 64;      ///< k covered by one tdpbsud

/// The 64-byte operand of ldtilecfg.
struct alignas(64) TileConfig {
  std::uint8_t palette_id = 0;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t colsb[16] = {};
  std::uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64);

/// The configuration of the tile plan above.
inline TileConfig kernel_tile_config() {
  TileConfig cfg;
  cfg.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = kTileRows;
    cfg.colsb[t] = static_cast<std::uint16_t>(kTileBytes);
  }
  return cfg;
}

}  // namespace dfrot::gemm::cpu::amx

#if DFROT_X86
DFROT_TARGET_PUSH_AMX
namespace dfrot::gemm::cpu::amx {

/// The hardware tiles. GCC's tile intrinsics are asm statements that take the tile number as a
/// literal and do not tell the compiler that they read or write memory, hence the switch over
/// tile numbers and the compiler barriers around loads and stores.
struct HardwareTiles {
  /// Tile configuration is per-thread state: every thread that runs a kernel loads it first.
  static void configure() noexcept {
    static TileConfig const cfg = kernel_tile_config();
    _tile_loadconfig(&cfg);
  }
  static void release() noexcept { _tile_release(); }

  template <int C>
  static void zero() noexcept {
    if constexpr (C == 0) _tile_zero(0);
    else if constexpr (C == 1) _tile_zero(1);
    else if constexpr (C == 2) _tile_zero(2);
    else if constexpr (C == 3) _tile_zero(3);
    else static_assert(C < 4, "accumulators are tmm0-tmm3");
  }

  template <int T>
  static void load(void const* p, std::size_t stride) noexcept {
    __asm__ volatile("" ::: "memory");  // the bytes written before are visible to the tile load
    auto const s = static_cast<long>(stride);
    if constexpr (T == 4) _tile_loadd(4, p, s);
    else if constexpr (T == 5) _tile_loadd(5, p, s);
    else if constexpr (T == 6) _tile_loadd(6, p, s);
    else if constexpr (T == 7) _tile_loadd(7, p, s);
    else static_assert(T >= 4 && T < 8, "operands are tmm4-tmm7");
  }

  /// C += A (int8) · B (uint8), C = tmm(2i + j), A = tmm(4 + i), B = tmm(6 + j).
  template <int I, int J>
  static void dot() noexcept {
    if constexpr (I == 0 && J == 0) _tile_dpbsud(0, 4, 6);
    else if constexpr (I == 0 && J == 1) _tile_dpbsud(1, 4, 7);
    else if constexpr (I == 1 && J == 0) _tile_dpbsud(2, 5, 6);
    else if constexpr (I == 1 && J == 1) _tile_dpbsud(3, 5, 7);
    else static_assert(I < 2 && J < 2, "2 x 2 accumulator plan");
  }

  template <int C>
  static void store(void* p, std::size_t stride) noexcept {
    auto const s = static_cast<long>(stride);
    if constexpr (C == 0) _tile_stored(0, p, s);
    else if constexpr (C == 1) _tile_stored(1, p, s);
    else if constexpr (C == 2) _tile_stored(2, p, s);
    else if constexpr (C == 3) _tile_stored(3, p, s);
    else static_assert(C < 4, "accumulators are tmm0-tmm3");
    __asm__ volatile("" ::: "memory");  // the stored bytes are visible to the loads after
  }
};

}  // namespace dfrot::gemm::cpu::amx
DFROT_TARGET_POP
#endif
