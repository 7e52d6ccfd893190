// SPDX-License-Identifier: Apache-2.0
// AVX-512 VNNI level of the integer GEMM: one 64-byte panel block is 16 channels × 8 columns;
// its low and high nibbles feed two `vpdpbusd` (u8 weights × broadcast s8 codes → s32) per token.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dfrot/config.hpp"
#include "dfrot/core/target.hpp"
#include "dfrot/gemm/cpu/gemm_args.hpp"
#include "dfrot/gemm/cpu/gemm_kernels_avx2.hpp"

#if DFROT_X86
#include <immintrin.h>

DFROT_TARGET_PUSH_AVX512VNNI
namespace dfrot::gemm::cpu::avx512vnni {

namespace detail {

inline __m512i broadcast4(std::int8_t const* p) noexcept {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/// MB tokens × NP panels over all of K (MB·NP accumulators of 16 int32).
template <int MB, int NP>
DFROT_FORCEINLINE void int_block(IntGemmArgs const& g, std::size_t t0, std::size_t p0) noexcept {
  PackedInt4Weights const& w = *g.w;
  std::size_t const n_oct = w.k_pad() / kOctet;
  __m512i const nibble = _mm512_set1_epi8(0x0F);
  __m512i acc[MB][NP];
  for (int t = 0; t < MB; ++t)
    for (int p = 0; p < NP; ++p) acc[t][p] = _mm512_setzero_si512();
  std::uint8_t const* wp[NP];
  for (int p = 0; p < NP; ++p) wp[p] = w.panel(p0 + static_cast<std::size_t>(p));
  std::int8_t const* a = g.a + t0 * g.a_stride;
  for (std::size_t j = 0; j < n_oct; ++j) {
    __m512i lo[NP], hi[NP];
    for (int p = 0; p < NP; ++p) {
      __m512i const v = _mm512_loadu_si512(wp[p] + j * kBlockBytes);
      lo[p] = _mm512_and_si512(v, nibble);
      hi[p] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
    }
    for (int t = 0; t < MB; ++t) {
      std::int8_t const* at = a + static_cast<std::size_t>(t) * g.a_stride + j * kOctet;
      __m512i const b0 = broadcast4(at);
      __m512i const b1 = broadcast4(at + 4);
      for (int p = 0; p < NP; ++p) {
        acc[t][p] = _mm512_dpbusd_epi32(acc[t][p], lo[p], b0);
        acc[t][p] = _mm512_dpbusd_epi32(acc[t][p], hi[p], b1);
      }
    }
  }
  for (int t = 0; t < MB; ++t) {
    std::size_t const tt = t0 + static_cast<std::size_t>(t);
    __m512i const corr = _mm512_set1_epi32(8 * g.a_sums[tt]);
    __m512i const off = _mm512_set1_epi32(g.a_offsets[tt]);
    __m512 const sa = _mm512_set1_ps(g.a_scales[tt]);
    for (int p = 0; p < NP; ++p) {
      std::size_t const o = (p0 + static_cast<std::size_t>(p)) * kPanelRows;
      std::size_t const n_valid = std::min(kPanelRows, w.n_out() - o);
      __m512i v = _mm512_sub_epi32(acc[t][p], corr);
      v = _mm512_sub_epi32(v, _mm512_mullo_epi32(off, _mm512_loadu_si512(w.row_sums() + o)));
      __m512 const scale = _mm512_mul_ps(sa, _mm512_loadu_ps(w.scales() + o));
      // maskz: GCC 12 warns about _mm512_cvtepi32_ps's undefined pass-through operand.
      __mmask16 const m = static_cast<__mmask16>((1u << n_valid) - 1u);
      _mm512_mask_storeu_ps(g.out + tt * g.out_stride + o, m,
                            _mm512_mul_ps(scale, _mm512_maskz_cvtepi32_ps(0xFFFF, v)));
    }
  }
}

/// MB tokens × NP panels of the int8-weight kernel: one block (16 channels × 4 columns) is one
/// `vpdpbusd` operand as stored.
template <int MB, int NP>
DFROT_FORCEINLINE void int8_block(Int8GemmArgs const& g, std::size_t t0, std::size_t p0) noexcept {
  PackedInt8Weights const& w = *g.w;
  std::size_t const n_quads = w.k_pad() / kQuad;
  __m512i acc[MB][NP];
  for (int t = 0; t < MB; ++t)
    for (int p = 0; p < NP; ++p) acc[t][p] = _mm512_setzero_si512();
  std::uint8_t const* wp[NP];
  for (int p = 0; p < NP; ++p) wp[p] = w.panel(p0 + static_cast<std::size_t>(p));
  std::int8_t const* a = g.a + t0 * g.a_stride;
  for (std::size_t j = 0; j < n_quads; ++j) {
    __m512i v[NP];
    for (int p = 0; p < NP; ++p) v[p] = _mm512_loadu_si512(wp[p] + j * kBlockBytes);
    for (int t = 0; t < MB; ++t) {
      __m512i const b = broadcast4(a + static_cast<std::size_t>(t) * g.a_stride + j * kQuad);
      for (int p = 0; p < NP; ++p) acc[t][p] = _mm512_dpbusd_epi32(acc[t][p], v[p], b);
    }
  }
  for (int t = 0; t < MB; ++t) {
    std::size_t const tt = t0 + static_cast<std::size_t>(t);
    __m512i const corr = _mm512_set1_epi32(128 * g.a_sums[tt]);
    __m512i const off = _mm512_set1_epi32(g.a_offsets[tt]);
    __m512 const sa = _mm512_set1_ps(g.a_scales[tt]);
    for (int p = 0; p < NP; ++p) {
      std::size_t const o = (p0 + static_cast<std::size_t>(p)) * kPanelRows;
      std::size_t const n_valid = std::min(kPanelRows, w.n_out() - o);
      __m512i vs = _mm512_sub_epi32(acc[t][p], corr);
      vs = _mm512_sub_epi32(vs, _mm512_mullo_epi32(off, _mm512_loadu_si512(w.row_sums() + o)));
      __m512 const scale = _mm512_mul_ps(sa, _mm512_loadu_ps(w.scales() + o));
      __mmask16 const m = static_cast<__mmask16>((1u << n_valid) - 1u);
      _mm512_mask_storeu_ps(g.out + tt * g.out_stride + o, m,
                            _mm512_mul_ps(scale, _mm512_maskz_cvtepi32_ps(0xFFFF, vs)));
    }
  }
}

/// Runs `block.template operator()<MB>(t)` over tokens [t0, t1): blocks of 6, then the rest.
template <class Block>
DFROT_FORCEINLINE void over_tokens6(std::size_t t0, std::size_t t1, Block&& block) noexcept {
  constexpr int kMaxMb = 6;
  std::size_t t = t0;
  for (; t + kMaxMb <= t1; t += kMaxMb) block.template operator()<kMaxMb>(t);
  switch (t1 - t) {
    case 5: block.template operator()<5>(t); break;
    case 4: block.template operator()<4>(t); break;
    case 3: block.template operator()<3>(t); break;
    case 2: block.template operator()<2>(t); break;
    case 1: block.template operator()<1>(t); break;
    default: break;
  }
}

template <int NP>
DFROT_FORCEINLINE void int_panels(IntGemmArgs const& g, std::size_t t0, std::size_t t1,
                                  std::size_t p) noexcept {
  over_tokens6(t0, t1, [&]<int MB>(std::size_t t) { int_block<MB, NP>(g, t, p); });
}

template <int NP>
DFROT_FORCEINLINE void int8_panels(Int8GemmArgs const& g, std::size_t t0, std::size_t t1,
                                   std::size_t p) noexcept {
  over_tokens6(t0, t1, [&]<int MB>(std::size_t t) { int8_block<MB, NP>(g, t, p); });
}

}  // namespace detail

inline constexpr std::size_t kTokenBlock = 96;

/// Tokens [t0, t1) × panels [p0, p1): panel pairs (32 channels) with up to 6 tokens at a time.
inline void int_gemm(IntGemmArgs const& g, std::size_t t0, std::size_t t1, std::size_t p0,
                     std::size_t p1) noexcept {
  for (std::size_t tb = t0; tb < t1; tb += kTokenBlock) {
    std::size_t const te = std::min(t1, tb + kTokenBlock);
    std::size_t p = p0;
    for (; p + 2 <= p1; p += 2) detail::int_panels<2>(g, tb, te, p);
    if (p < p1) detail::int_panels<1>(g, tb, te, p);
  }
}

/// Tokens [t0, t1) × panels [p0, p1) of the int8-weight kernel, as int_gemm.
inline void int8_gemm(Int8GemmArgs const& g, std::size_t t0, std::size_t t1, std::size_t p0,
                      std::size_t p1) noexcept {
  for (std::size_t tb = t0; tb < t1; tb += kTokenBlock) {
    std::size_t const te = std::min(t1, tb + kTokenBlock);
    std::size_t p = p0;
    for (; p + 2 <= p1; p += 2) detail::int8_panels<2>(g, tb, te, p);
    if (p < p1) detail::int8_panels<1>(g, tb, te, p);
  }
}

}  // namespace dfrot::gemm::cpu::avx512vnni
DFROT_TARGET_POP
#endif
