// SPDX-License-Identifier: Apache-2.0
// AMX-INT8 level of the integer GEMMs (prefill shapes): 32 tokens × 32 channels per block in four
// int32 accumulator tiles, 64 k per `tdpbsud`. Templated on the tile operations so the same code
// runs on the hardware (HardwareTiles) and on the scalar model (EmulatedTiles, tests).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dfrot/config.hpp"
#include "dfrot/core/target.hpp"
#include "dfrot/gemm/cpu/amx_tiles.hpp"
#include "dfrot/gemm/cpu/gemm_args.hpp"

#if DFROT_X86
#include <immintrin.h>

DFROT_TARGET_PUSH_AMX
namespace dfrot::gemm::cpu::amx {

/// Tokens and channels of one output block (2 × 2 tiles).
inline constexpr std::size_t kBlockTokens = 2 * kTileRows;
inline constexpr std::size_t kStripPanels = 2;

/// k rounded up to whole tile steps.
constexpr std::size_t k_steps_of(std::size_t k_pad) { return (k_pad + kTileK - 1) / kTileK; }

/// Per-thread scratch bytes of int_gemm and int8_gemm: a strip of two panels as B tiles (int4:
/// widened nibbles; int8: zero-padded copies when needed) and the zero-padded last token block
/// (32 rows), 1 KiB per panel and tile step each.
constexpr std::size_t amx_scratch_bytes(std::size_t k_pad) {
  return (kStripPanels + 2) * k_steps_of(k_pad) * kTileRows * kTileBytes;
}

namespace detail {

/// What the epilogue needs of either weight type: u = w + weight_offset.
struct Epilogue {
  float const* a_scales;
  std::int32_t const* a_offsets;
  std::int32_t const* a_sums;
  std::int32_t weight_offset;
  float const* w_scales;
  std::int32_t const* w_row_sums;
  std::size_t n_out;
  float* out;
  std::size_t out_stride;
};

/// out[t, o] = (s_a·s_w)·float(acc − offset_w·Σa − offset_a·Σw) for `rows` tokens from t0 and the
/// `panels` panels from p0 of one block; the operations and their order are the VNNI kernel's, so
/// the results are bit-identical.
DFROT_FORCEINLINE void store_block(Epilogue const& e, std::int32_t const* acc, std::size_t t0,
                                   std::size_t rows, std::size_t p0, std::size_t panels) noexcept {
  for (std::size_t r = 0; r < rows; ++r) {
    std::size_t const tt = t0 + r;
    __m512i const corr = _mm512_set1_epi32(e.weight_offset * e.a_sums[tt]);
    __m512i const off = _mm512_set1_epi32(e.a_offsets[tt]);
    __m512 const sa = _mm512_set1_ps(e.a_scales[tt]);
    for (std::size_t q = 0; q < panels; ++q) {
      std::size_t const o = (p0 + q) * kPanelRows;
      std::size_t const n_valid = std::min(kPanelRows, e.n_out - o);
      __m512i v = _mm512_loadu_si512(acc + r * kBlockTokens + q * kPanelRows);
      v = _mm512_sub_epi32(v, corr);
      v = _mm512_sub_epi32(v, _mm512_mullo_epi32(off, _mm512_loadu_si512(e.w_row_sums + o)));
      __m512 const scale = _mm512_mul_ps(sa, _mm512_loadu_ps(e.w_scales + o));
      __mmask16 const m = static_cast<__mmask16>((1u << n_valid) - 1u);
      _mm512_mask_storeu_ps(e.out + tt * e.out_stride + o, m,
                            _mm512_mul_ps(scale, _mm512_maskz_cvtepi32_ps(0xFFFF, v)));
    }
  }
}

/// Copies tokens [t0, t0 + rows) (rows < 32) into a zero-padded 32-row block of k_steps·64 bytes
/// per row, so that every tile load of the last block reads 16 whole rows inside the buffer.
DFROT_FORCEINLINE void copy_token_tail(std::int8_t const* a, std::size_t a_stride, std::size_t k_pad,
                                       std::size_t t0, std::size_t rows, std::size_t row_bytes,
                                       std::int8_t* tail) noexcept {
  std::memset(tail, 0, kBlockTokens * row_bytes);
  for (std::size_t r = 0; r < rows; ++r) std::memcpy(tail + r * row_bytes, a + (t0 + r) * a_stride, k_pad);
}

/// C(0..1, 0..1) = Σ over k steps of A(i)·B(j) for one 32 × 32 block, stored to acc[32 × 32].
template <class Tiles>
DFROT_FORCEINLINE void block_product(std::int8_t const* a, std::size_t a_stride, std::uint8_t const* b0,
                                     std::uint8_t const* b1, std::size_t b_step_bytes,
                                     std::size_t k_steps, std::int32_t* acc) noexcept {
  Tiles::template zero<0>();
  Tiles::template zero<1>();
  Tiles::template zero<2>();
  Tiles::template zero<3>();
  std::int8_t const* a1 = a + kTileRows * a_stride;
  for (std::size_t s = 0; s < k_steps; ++s) {
    Tiles::template load<4>(a + s * kTileK, a_stride);
    Tiles::template load<5>(a1 + s * kTileK, a_stride);
    Tiles::template load<6>(b0 + s * b_step_bytes, kTileBytes);
    Tiles::template load<7>(b1 + s * b_step_bytes, kTileBytes);
    Tiles::template dot<0, 0>();
    Tiles::template dot<0, 1>();
    Tiles::template dot<1, 0>();
    Tiles::template dot<1, 1>();
  }
  constexpr std::size_t kAccStride = kBlockTokens * sizeof(std::int32_t);
  Tiles::template store<0>(acc, kAccStride);
  Tiles::template store<1>(acc + kPanelRows, kAccStride);
  Tiles::template store<2>(acc + kTileRows * kBlockTokens, kAccStride);
  Tiles::template store<3>(acc + kTileRows * kBlockTokens + kPanelRows, kAccStride);
}

/// Every 32-token block of tokens [t0, t1) against one strip of B tiles.
template <class Tiles>
DFROT_FORCEINLINE void strip_over_tokens(std::int8_t const* a, std::size_t a_stride,
                                         std::int8_t const* tail, std::size_t tail_stride,
                                         std::size_t t0, std::size_t t1, std::uint8_t const* b0,
                                         std::uint8_t const* b1, std::size_t b_step_bytes,
                                         std::size_t k_steps, Epilogue const& e, std::size_t p,
                                         std::size_t panels) noexcept {
  alignas(64) std::int32_t acc[kBlockTokens * kBlockTokens];
  std::size_t t = t0;
  for (; t + kBlockTokens <= t1; t += kBlockTokens) {
    block_product<Tiles>(a + t * a_stride, a_stride, b0, b1, b_step_bytes, k_steps, acc);
    store_block(e, acc, t, kBlockTokens, p, panels);
  }
  if (t < t1) {
    block_product<Tiles>(tail, tail_stride, b0, b1, b_step_bytes, k_steps, acc);
    store_block(e, acc, t, t1 - t, p, panels);
  }
}

/// Widens panel p's nibbles into B-tile rows: row 2j ← low nibbles of block j (k = 8j..8j+3),
/// row 2j + 1 ← high nibbles (8j+4..8j+7); rows past k_pad are zero.
DFROT_FORCEINLINE void unpack_int4_panel(std::uint8_t const* panel, std::size_t n_oct,
                                         std::size_t k_steps, std::uint8_t* dst) noexcept {
  __m512i const nibble = _mm512_set1_epi8(0x0F);
  for (std::size_t j = 0; j < n_oct; ++j) {
    __m512i const v = _mm512_loadu_si512(panel + j * kBlockBytes);
    _mm512_storeu_si512(dst + 2 * j * kTileBytes, _mm512_and_si512(v, nibble));
    _mm512_storeu_si512(dst + (2 * j + 1) * kTileBytes,
                        _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble));
  }
  std::size_t const rows = k_steps * kTileRows;
  std::memset(dst + 2 * n_oct * kTileBytes, 0, (rows - 2 * n_oct) * kTileBytes);
}

}  // namespace detail

/// Tokens [t0, t1) × panels [p0, p1) of the int4-weight GEMM (IntGemmArgs). `a_stride` must be a
/// multiple of 64 ≥ round_up(k_pad, 64) with zero codes past n_in (QuantizedActivations' rows);
/// `scratch` holds amx_scratch_bytes(k_pad) bytes, 64-aligned, owned by the calling thread.
template <class Tiles>
void int_gemm(IntGemmArgs const& g, std::size_t t0, std::size_t t1, std::size_t p0,
              std::size_t p1, std::uint8_t* scratch) noexcept {
  PackedInt4Weights const& w = *g.w;
  std::size_t const k_steps = k_steps_of(w.k_pad());
  std::size_t const row_bytes = k_steps * kTileK;
  std::size_t const b_panel_bytes = k_steps * kTileRows * kTileBytes;
  std::uint8_t* b0 = scratch;
  std::uint8_t* b1 = scratch + b_panel_bytes;
  auto* tail = reinterpret_cast<std::int8_t*>(scratch + kStripPanels * b_panel_bytes);
  std::size_t const full_end = t0 + (t1 - t0) / kBlockTokens * kBlockTokens;
  if (full_end < t1) detail::copy_token_tail(g.a, g.a_stride, w.k_pad(), full_end, t1 - full_end, row_bytes, tail);
  detail::Epilogue const e{g.a_scales, g.a_offsets, g.a_sums, 8, w.scales(), w.row_sums(),
                           w.n_out(), g.out, g.out_stride};
  Tiles::configure();
  for (std::size_t p = p0; p < p1; p += kStripPanels) {
    std::size_t const panels = std::min(kStripPanels, p1 - p);
    detail::unpack_int4_panel(w.panel(p), w.k_pad() / kOctet, k_steps, b0);
    if (panels == 2) {
      detail::unpack_int4_panel(w.panel(p + 1), w.k_pad() / kOctet, k_steps, b1);
    } else {
      std::memset(b1, 0, b_panel_bytes);
    }
    detail::strip_over_tokens<Tiles>(g.a, g.a_stride, tail, row_bytes, t0, t1, b0, b1,
                                     kTileRows * kTileBytes, k_steps, e, p, panels);
  }
  Tiles::release();
}

/// Tokens [t0, t1) × panels [p0, p1) of the int8-weight GEMM (Int8GemmArgs): a panel's blocks
/// already are B-tile rows, so whole tile steps load straight from the weights; only the last,
/// partial step of each panel (k_pad not a multiple of 64) is copied, zero-padded. Same
/// preconditions as int_gemm; `scratch` holds amx_scratch_bytes(k_pad) bytes.
template <class Tiles>
void int8_gemm(Int8GemmArgs const& g, std::size_t t0, std::size_t t1, std::size_t p0,
               std::size_t p1, std::uint8_t* scratch) noexcept {
  PackedInt8Weights const& w = *g.w;
  std::size_t const k_steps = k_steps_of(w.k_pad());
  std::size_t const row_bytes = k_steps * kTileK;
  std::size_t const quads = w.k_pad() / kQuad;
  bool const partial = quads % kTileRows != 0;
  auto* tail = reinterpret_cast<std::int8_t*>(scratch);
  std::size_t const full_end = t0 + (t1 - t0) / kBlockTokens * kBlockTokens;
  if (full_end < t1) detail::copy_token_tail(g.a, g.a_stride, w.k_pad(), full_end, t1 - full_end, row_bytes, tail);
  detail::Epilogue const e{g.a_scales, g.a_offsets, g.a_sums, 128, w.scales(), w.row_sums(),
                           w.n_out(), g.out, g.out_stride};
  // A panel's tile steps are contiguous (row stride 64): with a partial last step the panel is
  // copied whole, zero-padded, so that no tile load reads past the weights.
  std::uint8_t* copy0 = scratch + kBlockTokens * row_bytes;
  std::size_t const padded_bytes = k_steps * kTileRows * kTileBytes;
  std::uint8_t* copy1 = copy0 + padded_bytes;
  Tiles::configure();
  for (std::size_t p = p0; p < p1; p += kStripPanels) {
    std::size_t const panels = std::min(kStripPanels, p1 - p);
    std::uint8_t const* b[kStripPanels];
    for (std::size_t q = 0; q < kStripPanels; ++q) {
      std::uint8_t* copy = q == 0 ? copy0 : copy1;
      if (q >= panels) {
        std::memset(copy, 0, padded_bytes);
        b[q] = copy;
      } else if (partial) {
        std::memcpy(copy, w.panel(p + q), quads * kBlockBytes);
        std::memset(copy + quads * kBlockBytes, 0, padded_bytes - quads * kBlockBytes);
        b[q] = copy;
      } else {
        b[q] = w.panel(p + q);
      }
    }
    detail::strip_over_tokens<Tiles>(g.a, g.a_stride, tail, row_bytes, t0, t1, b[0], b[1],
                                     kTileRows * kTileBytes, k_steps, e, p, panels);
  }
  Tiles::release();
}

}  // namespace dfrot::gemm::cpu::amx
DFROT_TARGET_POP
#endif
