// SPDX-License-Identifier: Apache-2.0
// Arguments of the CPU GEMM kernels (one struct for every ISA level, filled once per operation).
#pragma once

#include <cstddef>
#include <cstdint>

#include "dfrot/gemm/packed_int4_weights.hpp"
#include "dfrot/gemm/packed_int8_weights.hpp"

namespace dfrot::gemm::cpu {

/// out[t, o] = (a_scales[t]·w.scales()[o]) · float(acc − 8·a_sums[t] − a_offsets[t]·w.row_sums()[o])
/// with acc = Σ_k a[t, k]·(W[o, k] + 8) over k_pad columns (integer, exact).
struct IntGemmArgs {
  std::int8_t const* a = nullptr;  ///< activation codes, rows of a_stride ≥ w.k_pad() bytes
  std::size_t a_stride = 0;
  float const* a_scales = nullptr;
  std::int32_t const* a_offsets = nullptr;
  std::int32_t const* a_sums = nullptr;
  PackedInt4Weights const* w = nullptr;
  float* out = nullptr;  ///< [tokens × w.n_out()], row stride out_stride
  std::size_t out_stride = 0;
};

/// out[t, o] = (a_scales[t]·w.scales()[o]) · float(acc − 128·a_sums[t] − a_offsets[t]·w.row_sums()[o])
/// with acc = Σ_k a[t, k]·(W[o, k] + 128) over k_pad columns (int8 weights; integer, exact).
struct Int8GemmArgs {
  std::int8_t const* a = nullptr;  ///< activation codes, rows of a_stride ≥ w.k_pad() bytes
  std::size_t a_stride = 0;
  float const* a_scales = nullptr;
  std::int32_t const* a_offsets = nullptr;
  std::int32_t const* a_sums = nullptr;
  PackedInt8Weights const* w = nullptr;
  float* out = nullptr;
  std::size_t out_stride = 0;
};

/// out[t, o] = w.scales()[o] · Σ_k x[t, k]·W[o, k] (float activations, weight-only int4).
struct W4A16Args {
  float const* x = nullptr;  ///< [tokens × w.n_in()], row stride x_stride
  std::size_t x_stride = 0;
  PackedInt4Weights const* w = nullptr;
  float* out = nullptr;
  std::size_t out_stride = 0;
};

/// out[t, o] = Σ_k x[t, k]·W[o, k] with W stored as F16 bits, row-major [n_out × n_in].
struct F16GemvArgs {
  float const* x = nullptr;
  std::size_t x_stride = 0;
  std::uint16_t const* w = nullptr;
  std::size_t n_out = 0;
  std::size_t n_in = 0;
  float* out = nullptr;
  std::size_t out_stride = 0;
};

}  // namespace dfrot::gemm::cpu
