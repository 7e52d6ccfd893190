// SPDX-License-Identifier: Apache-2.0
// AVX2 level of the GEMM kernels: `vpmaddubsw` + `vpmaddwd` integer products (u8 weights × s8
// codes, no saturation: |Σ of 4 products| ≤ 4·15·128), F16C + FMA for the float kernels.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "dfrot/config.hpp"
#include "dfrot/core/target.hpp"
#include "dfrot/gemm/cpu/gemm_args.hpp"

#if DFROT_X86
#include <immintrin.h>

DFROT_TARGET_PUSH_AVX2
namespace dfrot::gemm::cpu::avx2 {

namespace detail {

inline __m256i broadcast4(std::int8_t const* p) noexcept {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

/// Stores the first n of 8 floats.
DFROT_FORCEINLINE void store_n(float* dst, __m256 v, std::size_t n) noexcept {
  if (n >= 8) {
    _mm256_storeu_ps(dst, v);
    return;
  }
  alignas(32) float tmp[8];
  _mm256_store_ps(tmp, v);
  std::memcpy(dst, tmp, n * sizeof(float));
}

/// MB tokens × one panel (16 channels as two halves of 8) over all of K.
template <int MB>
DFROT_FORCEINLINE void int_block(IntGemmArgs const& g, std::size_t t0, std::size_t p) noexcept {
  PackedInt4Weights const& w = *g.w;
  std::size_t const n_oct = w.k_pad() / kOctet;
  std::uint8_t const* wp = w.panel(p);
  __m256i const nibble = _mm256_set1_epi8(0x0F);
  __m256i const ones = _mm256_set1_epi16(1);
  __m256i acc[MB][2];
  for (int t = 0; t < MB; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_si256();
  std::int8_t const* a = g.a + t0 * g.a_stride;
  for (std::size_t j = 0; j < n_oct; ++j) {
    __m256i const v0 = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(wp + j * kBlockBytes));
    __m256i const v1 =
        _mm256_loadu_si256(reinterpret_cast<__m256i const*>(wp + j * kBlockBytes + 32));
    __m256i const lo0 = _mm256_and_si256(v0, nibble);
    __m256i const hi0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), nibble);
    __m256i const lo1 = _mm256_and_si256(v1, nibble);
    __m256i const hi1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), nibble);
    for (int t = 0; t < MB; ++t) {
      std::int8_t const* at = a + static_cast<std::size_t>(t) * g.a_stride + j * kOctet;
      __m256i const b0 = broadcast4(at);
      __m256i const b1 = broadcast4(at + 4);
      __m256i const s0 =
          _mm256_add_epi16(_mm256_maddubs_epi16(lo0, b0), _mm256_maddubs_epi16(hi0, b1));
      __m256i const s1 =
          _mm256_add_epi16(_mm256_maddubs_epi16(lo1, b0), _mm256_maddubs_epi16(hi1, b1));
      acc[t][0] = _mm256_add_epi32(acc[t][0], _mm256_madd_epi16(s0, ones));
      acc[t][1] = _mm256_add_epi32(acc[t][1], _mm256_madd_epi16(s1, ones));
    }
  }
  std::size_t const o0 = p * kPanelRows;
  std::size_t const n_valid = std::min(kPanelRows, w.n_out() - o0);
  for (int t = 0; t < MB; ++t) {
    std::size_t const tt = t0 + static_cast<std::size_t>(t);
    __m256i const corr = _mm256_set1_epi32(8 * g.a_sums[tt]);
    __m256i const off = _mm256_set1_epi32(g.a_offsets[tt]);
    __m256 const sa = _mm256_set1_ps(g.a_scales[tt]);
    for (int h = 0; h < 2; ++h) {
      std::size_t const o = o0 + static_cast<std::size_t>(h) * 8;
      if (static_cast<std::size_t>(h) * 8 >= n_valid) break;
      __m256i const rs =
          _mm256_loadu_si256(reinterpret_cast<__m256i const*>(w.row_sums() + o));
      __m256i v = _mm256_sub_epi32(acc[t][h], corr);
      v = _mm256_sub_epi32(v, _mm256_mullo_epi32(off, rs));
      __m256 const scale = _mm256_mul_ps(sa, _mm256_loadu_ps(w.scales() + o));
      store_n(g.out + tt * g.out_stride + o, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(v)),
              n_valid - static_cast<std::size_t>(h) * 8);
    }
  }
}

/// MB tokens × one panel of the int8-weight kernel. `vpmaddubsw` would saturate (255·127·2 >
/// 2¹⁵), so both operands are widened to int16 and multiplied with `vpmaddwd`: quarter q of a
/// block (channels 4q..4q+3) accumulates [c(k0+k1), c(k2+k3)] pairs per channel, summed at the end.
template <int MB>
DFROT_FORCEINLINE void int8_block(Int8GemmArgs const& g, std::size_t t0, std::size_t p) noexcept {
  PackedInt8Weights const& w = *g.w;
  std::size_t const n_quads = w.k_pad() / kQuad;
  std::uint8_t const* wp = w.panel(p);
  __m256i acc[MB][4];
  for (int t = 0; t < MB; ++t)
    for (int q = 0; q < 4; ++q) acc[t][q] = _mm256_setzero_si256();
  std::int8_t const* a = g.a + t0 * g.a_stride;
  for (std::size_t j = 0; j < n_quads; ++j) {
    __m256i wq[4];
    for (int q = 0; q < 4; ++q) {
      wq[q] = _mm256_cvtepu8_epi16(
          _mm_loadu_si128(reinterpret_cast<__m128i const*>(wp + j * kBlockBytes + 16 * q)));
    }
    for (int t = 0; t < MB; ++t) {
      std::int32_t a4;
      std::memcpy(&a4, a + static_cast<std::size_t>(t) * g.a_stride + j * kQuad, 4);
      __m256i const b = _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(a4)));
      for (int q = 0; q < 4; ++q) acc[t][q] = _mm256_add_epi32(acc[t][q], _mm256_madd_epi16(wq[q], b));
    }
  }
  std::size_t const o0 = p * kPanelRows;
  std::size_t const n_valid = std::min(kPanelRows, w.n_out() - o0);
  for (int t = 0; t < MB; ++t) {
    std::size_t const tt = t0 + static_cast<std::size_t>(t);
    __m256i const corr = _mm256_set1_epi32(128 * g.a_sums[tt]);
    __m256i const off = _mm256_set1_epi32(g.a_offsets[tt]);
    __m256 const sa = _mm256_set1_ps(g.a_scales[tt]);
    for (int h = 0; h < 2; ++h) {
      if (static_cast<std::size_t>(h) * 8 >= n_valid) break;
      // hadd per 128-bit lane gives [c0 c1 c4 c5 | c2 c3 c6 c7]; the permute restores c0..c7.
      __m256i const sums = _mm256_permute4x64_epi64(
          _mm256_hadd_epi32(acc[t][2 * h], acc[t][2 * h + 1]), 0b11011000);
      std::size_t const o = o0 + static_cast<std::size_t>(h) * 8;
      __m256i const rs = _mm256_loadu_si256(reinterpret_cast<__m256i const*>(w.row_sums() + o));
      __m256i v = _mm256_sub_epi32(sums, corr);
      v = _mm256_sub_epi32(v, _mm256_mullo_epi32(off, rs));
      __m256 const scale = _mm256_mul_ps(sa, _mm256_loadu_ps(w.scales() + o));
      store_n(g.out + tt * g.out_stride + o, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(v)),
              n_valid - static_cast<std::size_t>(h) * 8);
    }
  }
}

/// MB tokens × one panel of the weight-only kernel: nibbles → int32 lanes → float, FMA.
template <int MB>
DFROT_FORCEINLINE void w4a16_block(W4A16Args const& g, std::size_t t0, std::size_t p) noexcept {
  PackedInt4Weights const& w = *g.w;
  std::size_t const n = w.n_in(), n_full = n / kOctet, n_oct = w.k_pad() / kOctet;
  std::uint8_t const* wp = w.panel(p);
  __m256i const nibble = _mm256_set1_epi32(0x0F);
  __m256i const eight = _mm256_set1_epi32(8);
  __m256 acc[MB][2];
  for (int t = 0; t < MB; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  alignas(32) float tail[MB][kOctet];
  for (std::size_t j = 0; j < n_oct; ++j) {
    float const* xs[MB];
    for (int t = 0; t < MB; ++t) {
      float const* xr = g.x + (t0 + static_cast<std::size_t>(t)) * g.x_stride + j * kOctet;
      if (j < n_full) {
        xs[t] = xr;
      } else {  // the last, partial octet: zero-padded copy (never read past the row)
        std::fill(tail[t], tail[t] + kOctet, 0.0f);
        std::copy(xr, xr + (n - j * kOctet), tail[t]);
        xs[t] = tail[t];
      }
    }
    for (int h = 0; h < 2; ++h) {
      __m256i const v =
          _mm256_loadu_si256(reinterpret_cast<__m256i const*>(wp + j * kBlockBytes + 32 * h));
      for (int b = 0; b < 4; ++b) {
        __m256i const lo = _mm256_and_si256(_mm256_srli_epi32(v, 8 * b), nibble);
        __m256i const hi = _mm256_and_si256(_mm256_srli_epi32(v, 8 * b + 4), nibble);
        __m256 const wl = _mm256_cvtepi32_ps(_mm256_sub_epi32(lo, eight));
        __m256 const wh = _mm256_cvtepi32_ps(_mm256_sub_epi32(hi, eight));
        for (int t = 0; t < MB; ++t) {
          acc[t][h] = _mm256_fmadd_ps(wl, _mm256_set1_ps(xs[t][b]), acc[t][h]);
          acc[t][h] = _mm256_fmadd_ps(wh, _mm256_set1_ps(xs[t][4 + b]), acc[t][h]);
        }
      }
    }
  }
  std::size_t const o0 = p * kPanelRows;
  std::size_t const n_valid = std::min(kPanelRows, w.n_out() - o0);
  for (int t = 0; t < MB; ++t) {
    for (int h = 0; h < 2; ++h) {
      if (static_cast<std::size_t>(h) * 8 >= n_valid) break;
      std::size_t const o = o0 + static_cast<std::size_t>(h) * 8;
      store_n(g.out + (t0 + static_cast<std::size_t>(t)) * g.out_stride + o,
              _mm256_mul_ps(_mm256_loadu_ps(w.scales() + o), acc[t][h]),
              n_valid - static_cast<std::size_t>(h) * 8);
    }
  }
}

inline float hsum(__m256 v) noexcept {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/// MB tokens × 2 output rows of the F16 kernel (row-wise dot products).
template <int MB, int NR>
DFROT_FORCEINLINE void f16_block(F16GemvArgs const& g, std::size_t t0, std::size_t o) noexcept {
  std::size_t const n = g.n_in, n8 = n / 8 * 8;
  __m256 acc[MB][NR];
  for (int t = 0; t < MB; ++t)
    for (int r = 0; r < NR; ++r) acc[t][r] = _mm256_setzero_ps();
  for (std::size_t k = 0; k < n8; k += 8) {
    __m256 wv[NR];
    for (int r = 0; r < NR; ++r) {
      wv[r] = _mm256_cvtph_ps(_mm_loadu_si128(
          reinterpret_cast<__m128i const*>(g.w + (o + static_cast<std::size_t>(r)) * n + k)));
    }
    for (int t = 0; t < MB; ++t) {
      __m256 const xv = _mm256_loadu_ps(g.x + (t0 + static_cast<std::size_t>(t)) * g.x_stride + k);
      for (int r = 0; r < NR; ++r) acc[t][r] = _mm256_fmadd_ps(wv[r], xv, acc[t][r]);
    }
  }
  for (int t = 0; t < MB; ++t) {
    float const* x = g.x + (t0 + static_cast<std::size_t>(t)) * g.x_stride;
    for (int r = 0; r < NR; ++r) {
      std::uint16_t const* wr = g.w + (o + static_cast<std::size_t>(r)) * n;
      float s = hsum(acc[t][r]);
      for (std::size_t k = n8; k < n; ++k) s += x[k] * _cvtsh_ss(wr[k]);
      g.out[(t0 + static_cast<std::size_t>(t)) * g.out_stride + o + static_cast<std::size_t>(r)] = s;
    }
  }
}

/// Runs `block<MB>(t)` over [t0, t1) with the largest MB ≤ kMaxMb first, then the remainder.
template <int kMaxMb, class Block>
DFROT_FORCEINLINE void over_tokens(std::size_t t0, std::size_t t1, Block&& block) noexcept {
  std::size_t t = t0;
  for (; t + kMaxMb <= t1; t += kMaxMb) block.template operator()<kMaxMb>(t);
  if constexpr (kMaxMb > 1) {
    std::size_t const rest = t1 - t;
    if (rest == 0) return;
    [&]<int... Mb>(std::integer_sequence<int, Mb...>) {
      ((rest == static_cast<std::size_t>(Mb + 1) ? block.template operator()<Mb + 1>(t) : void()), ...);
    }(std::make_integer_sequence<int, kMaxMb - 1>{});
  }
}

}  // namespace detail

/// Token blocks stay in L2 while every panel of the thread's range streams past them.
inline constexpr std::size_t kTokenBlock = 64;

inline void int_gemm(IntGemmArgs const& g, std::size_t t0, std::size_t t1, std::size_t p0,
                     std::size_t p1) noexcept {
  for (std::size_t tb = t0; tb < t1; tb += kTokenBlock) {
    std::size_t const te = std::min(t1, tb + kTokenBlock);
    for (std::size_t p = p0; p < p1; ++p) {
      detail::over_tokens<4>(tb, te, [&]<int MB>(std::size_t t) { detail::int_block<MB>(g, t, p); });
    }
  }
}

inline void int8_gemm(Int8GemmArgs const& g, std::size_t t0, std::size_t t1, std::size_t p0,
                      std::size_t p1) noexcept {
  for (std::size_t tb = t0; tb < t1; tb += kTokenBlock) {
    std::size_t const te = std::min(t1, tb + kTokenBlock);
    for (std::size_t p = p0; p < p1; ++p) {
      detail::over_tokens<3>(tb, te, [&]<int MB>(std::size_t t) { detail::int8_block<MB>(g, t, p); });
    }
  }
}

inline void w4a16_gemm(W4A16Args const& g, std::size_t t0, std::size_t t1, std::size_t p0,
                       std::size_t p1) noexcept {
  for (std::size_t tb = t0; tb < t1; tb += kTokenBlock) {
    std::size_t const te = std::min(t1, tb + kTokenBlock);
    for (std::size_t p = p0; p < p1; ++p) {
      detail::over_tokens<4>(tb, te, [&]<int MB>(std::size_t t) { detail::w4a16_block<MB>(g, t, p); });
    }
  }
}

inline void f16_gemm(F16GemvArgs const& g, std::size_t t0, std::size_t t1, std::size_t o0,
                     std::size_t o1) noexcept {
  std::size_t o = o0;
  if (t1 - t0 == 1) {  // decode: 8 independent rows keep the FMA pipes busy (bandwidth-bound)
    for (; o + 8 <= o1; o += 8) detail::f16_block<1, 8>(g, t0, o);
    for (; o < o1; ++o) detail::f16_block<1, 1>(g, t0, o);
    return;
  }
  for (; o + 2 <= o1; o += 2) {
    detail::over_tokens<4>(t0, t1, [&]<int MB>(std::size_t t) { detail::f16_block<MB, 2>(g, t, o); });
  }
  if (o < o1) {
    detail::over_tokens<4>(t0, t1, [&]<int MB>(std::size_t t) { detail::f16_block<MB, 1>(g, t, o); });
  }
}

}  // namespace dfrot::gemm::cpu::avx2
DFROT_TARGET_POP
#endif
