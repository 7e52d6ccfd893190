// SPDX-License-Identifier: Apache-2.0
// Scalar level of the GEMM kernels: the reference every SIMD level must equal (integer GEMM: bit
// for bit; float kernels: within rounding).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "dfrot/core/dtype.hpp"
#include "dfrot/gemm/cpu/gemm_args.hpp"

namespace dfrot::gemm::cpu::scalar {

/// Tokens [t0, t1) × panels [p0, p1) of the integer GEMM.
inline void int_gemm(IntGemmArgs const& g, std::size_t t0, std::size_t t1, std::size_t p0,
                     std::size_t p1) noexcept {
  PackedInt4Weights const& w = *g.w;
  std::size_t const kp = w.k_pad(), o_end = std::min(p1 * kPanelRows, w.n_out());
  for (std::size_t t = t0; t < t1; ++t) {
    std::int8_t const* a = g.a + t * g.a_stride;
    for (std::size_t o = p0 * kPanelRows; o < o_end; ++o) {
      std::int32_t acc = 0;
      for (std::size_t k = 0; k < kp; ++k) acc += static_cast<std::int32_t>(a[k]) * (w.code(o, k) + 8);
      std::int32_t const v = acc - 8 * g.a_sums[t] - g.a_offsets[t] * w.row_sums()[o];
      float const scale = g.a_scales[t] * w.scales()[o];
      g.out[t * g.out_stride + o] = scale * static_cast<float>(v);
    }
  }
}

/// Tokens [t0, t1) × panels [p0, p1) of the int8-weight GEMM.
inline void int8_gemm(Int8GemmArgs const& g, std::size_t t0, std::size_t t1, std::size_t p0,
                      std::size_t p1) noexcept {
  PackedInt8Weights const& w = *g.w;
  std::size_t const kp = w.k_pad(), o_end = std::min(p1 * kPanelRows, w.n_out());
  for (std::size_t t = t0; t < t1; ++t) {
    std::int8_t const* a = g.a + t * g.a_stride;
    for (std::size_t o = p0 * kPanelRows; o < o_end; ++o) {
      std::int32_t acc = 0;
      for (std::size_t k = 0; k < kp; ++k) acc += static_cast<std::int32_t>(a[k]) * (w.code(o, k) + 128);
      std::int32_t const v = acc - 128 * g.a_sums[t] - g.a_offsets[t] * w.row_sums()[o];
      g.out[t * g.out_stride + o] = g.a_scales[t] * w.scales()[o] * static_cast<float>(v);
    }
  }
}

/// Tokens [t0, t1) × panels [p0, p1) of the weight-only GEMM.
inline void w4a16_gemm(W4A16Args const& g, std::size_t t0, std::size_t t1, std::size_t p0,
                       std::size_t p1) noexcept {
  PackedInt4Weights const& w = *g.w;
  std::size_t const n = w.n_in(), o_end = std::min(p1 * kPanelRows, w.n_out());
  for (std::size_t t = t0; t < t1; ++t) {
    float const* x = g.x + t * g.x_stride;
    for (std::size_t o = p0 * kPanelRows; o < o_end; ++o) {
      float acc = 0;
      for (std::size_t k = 0; k < n; ++k) acc += x[k] * static_cast<float>(w.code(o, k));
      g.out[t * g.out_stride + o] = w.scales()[o] * acc;
    }
  }
}

/// Tokens [t0, t1) × outputs [o0, o1) of the F16-weight GEMM.
inline void f16_gemm(F16GemvArgs const& g, std::size_t t0, std::size_t t1, std::size_t o0,
                     std::size_t o1) noexcept {
  for (std::size_t t = t0; t < t1; ++t) {
    float const* x = g.x + t * g.x_stride;
    for (std::size_t o = o0; o < o1; ++o) {
      std::uint16_t const* wr = g.w + o * g.n_in;
      float acc = 0;
      for (std::size_t k = 0; k < g.n_in; ++k) acc += x[k] * f16_bits_to_float(wr[k]);
      g.out[t * g.out_stride + o] = acc;
    }
  }
}

}  // namespace dfrot::gemm::cpu::scalar
