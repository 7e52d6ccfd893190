// SPDX-License-Identifier: Apache-2.0
// Dynamic per-token activation quantization (sym/asym, clip ratio, per-token groups), SIMD
// dispatched.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "dfrot/core/dispatch.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/quant/cpu/activation_kernels.hpp"
#include "dfrot/quant/grid.hpp"
#include "dfrot/quant/quant_config.hpp"
#include "dfrot/quant/quantized_tensor.hpp"

namespace dfrot::quant {

namespace detail {

/// Columns per group of an activation quantizer (per-row = the whole token).
inline std::size_t activation_group(QuantConfig const& cfg, std::size_t n_cols,
                                    std::string_view where) {
  validate(cfg, where);
  DFROT_THROW_IF(cfg.granularity == Granularity::kPerTensor, UsageError, where,
                 ": activations are quantized dynamically per token (per-row or per-group), not "
                 "per tensor");
  DFROT_THROW_IF(n_cols == 0, ShapeError, where, ": rows have no columns");
  return group_columns(cfg, n_cols, where);
}

/// Runs the dispatched kernel over all rows (inline when called inside a parallel region) and
/// returns how many rows hold NaN or Inf; never throws (cfg and gs were validated by the caller),
/// so callers may run it from their own parallel loops.
template <cpu::ActMode kMode>
std::size_t activation_kernel_rows(MatrixView<float const> x, QuantConfig const& cfg,
                                   std::size_t gs, float* fake, std::size_t sfake,
                                   std::uint8_t* codes, std::size_t scodes, float* scales,
                                   float* zeros, int n_threads) noexcept {
  Grid<float> const g = make_grid<float>(cfg.bits, cfg.symmetry);
  bool const asym = cfg.symmetry == Symmetry::kAsym;
  bool const include_zero = cfg.granularity == Granularity::kPerRow;
  std::size_t const n = x.cols(), n_groups = n / gs;
  std::atomic<std::size_t> n_bad{0};
  dispatch_isa<cpu::kActivationIsas>(active_isa(), [&]<Isa I>() {
    using K = cpu::ActivationKernels<I>;
    parallel_for(x.rows(), n_threads, 16, [&](std::size_t begin, std::size_t end) {
      float* f = fake != nullptr ? fake + begin * sfake : nullptr;
      std::uint8_t* c = codes != nullptr ? codes + begin * scodes : nullptr;
      float* z = zeros != nullptr ? zeros + begin * n_groups : nullptr;
      std::size_t const bad =
          asym ? K::template rows<true, kMode>(x.row(begin), end - begin, n, x.row_stride(), gs,
                                               include_zero, cfg.clip_ratio, g, f, sfake, c, scodes,
                                               scales + begin * n_groups, z)
               : K::template rows<false, kMode>(x.row(begin), end - begin, n, x.row_stride(), gs,
                                                include_zero, cfg.clip_ratio, g, f, sfake, c,
                                                scodes, scales + begin * n_groups, z);
      n_bad += bad;
    });
  });
  return n_bad.load();
}

/// activation_kernel_rows, throwing NumericError on non-finite input.
template <cpu::ActMode kMode>
void run_activation_kernel(MatrixView<float const> x, QuantConfig const& cfg, std::size_t gs,
                           float* fake, std::size_t sfake, std::uint8_t* codes, std::size_t scodes,
                           float* scales, float* zeros, int n_threads, std::string_view where) {
  std::size_t const n_bad = activation_kernel_rows<kMode>(x, cfg, gs, fake, sfake, codes, scodes,
                                                          scales, zeros, n_threads);
  DFROT_THROW_IF(n_bad != 0, NumericError, where, ": input contains NaN or Inf in ", n_bad,
                 " of ", x.rows(), " rows");
}

}  // namespace detail

/// Dynamic activation fake quantization (quantize → dequantize), ALGORITHMS.md §3.4: per token
/// (kPerRow: range [min(min x, 0), max(max x, 0)]·c) or per token-group of `group_size` columns
/// (kPerGroup: [min x, max x]·c, zero not forced), sym or asym, round half to even. Dispatches once
/// to AVX-512 → AVX2 → scalar; every level is bit-identical to the scalar one.
/// \param x   activations [n_tokens × d], any row stride
/// \param out [n_tokens × d]; may alias x (in place)
/// \throws UsageError for a bad config or per-tensor granularity, ShapeError when the group size
///         does not divide d or shapes differ, NumericError when x contains NaN/Inf.
inline void fake_quantize_activations(MatrixView<float const> x, MatrixView<float> out,
                                      QuantConfig const& cfg, int n_threads = 1) {
  constexpr std::string_view kWhere = "fake_quantize_activations";
  DFROT_THROW_IF(out.rows() != x.rows() || out.cols() != x.cols(), ShapeError, kWhere,
                 ": output is ", out.rows(), "x", out.cols(), " but the input is ", x.rows(), "x",
                 x.cols());
  std::size_t const gs = detail::activation_group(cfg, x.cols(), kWhere);
  std::vector<float> scales(x.rows() * (x.cols() / gs));
  std::vector<float> zeros(cfg.symmetry == Symmetry::kAsym ? scales.size() : 0);
  detail::run_activation_kernel<cpu::ActMode::kFake>(
      x, cfg, gs, out.data(), out.row_stride(), nullptr, 0, scales.data(),
      zeros.empty() ? nullptr : zeros.data(), n_threads, kWhere);
}

/// Fused dynamic quantize + pack into `out`, reusing its storage when the shape already matches
/// (no allocation in steady state). Codes ≤ 4 bits use the packed int4 layout (int4_pack.hpp),
/// 5–8 bits one byte per code; scales (and zero points for asym) per (token, group).
/// \throws as fake_quantize_activations.
inline void quantize_activations_into(MatrixView<float const> x, QuantConfig const& cfg,
                                      QuantizedTensor& out, int n_threads = 1) {
  constexpr std::string_view kWhere = "quantize_activations";
  std::size_t const gs = detail::activation_group(cfg, x.cols(), kWhere);
  if (out.bits != cfg.bits || out.symmetry != cfg.symmetry || out.n_rows != x.rows() ||
      out.n_cols != x.cols() || out.group_size != gs || !out.group_index.empty()) {
    out = QuantizedTensor::allocate(cfg.bits, cfg.symmetry, x.rows(), x.cols(), gs);
  }
  float* zeros = out.zeros.empty() ? nullptr : out.zeros.data();
  if (out.packed()) {
    detail::run_activation_kernel<cpu::ActMode::kPacked4>(x, cfg, gs, nullptr, 0, out.data.data(),
                                                          out.row_bytes(), out.scales.data(), zeros,
                                                          n_threads, kWhere);
  } else {
    detail::run_activation_kernel<cpu::ActMode::kBytes>(x, cfg, gs, nullptr, 0, out.data.data(),
                                                        out.row_bytes(), out.scales.data(), zeros,
                                                        n_threads, kWhere);
  }
}

/// Per-token quantization into one byte per code (sym: int8 two's complement, asym: uint8) with
/// a caller-owned layout: `codes` [n × d] (any row stride), `scales` and, for asym, `zeros` (n
/// entries each). The integer GEMM's input (gemm/quantized_activations.hpp).
/// \throws UsageError unless cfg is per-row, ShapeError on a shape mismatch, NumericError on NaN.
inline void quantize_activations_to_bytes(MatrixView<float const> x, QuantConfig const& cfg,
                                          MatrixView<std::uint8_t> codes, float* scales,
                                          float* zeros, int n_threads = 1) {
  constexpr std::string_view kWhere = "quantize_activations_to_bytes";
  DFROT_THROW_IF(cfg.granularity != Granularity::kPerRow, UsageError, kWhere,
                 ": expected per-token (per-row) granularity");
  DFROT_THROW_IF(codes.rows() != x.rows() || codes.cols() != x.cols(), ShapeError, kWhere,
                 ": codes are ", codes.rows(), "x", codes.cols(), " but the input is ", x.rows(),
                 "x", x.cols());
  DFROT_THROW_IF(cfg.symmetry == Symmetry::kAsym && zeros == nullptr, UsageError, kWhere,
                 ": asymmetric quantization needs a zero-point buffer");
  std::size_t const gs = detail::activation_group(cfg, x.cols(), kWhere);
  detail::run_activation_kernel<cpu::ActMode::kBytes>(x, cfg, gs, nullptr, 0, codes.data(),
                                                      codes.row_stride(), scales, zeros,
                                                      n_threads, kWhere);
}

/// Per-token quantization of one row straight into the integer GEMM's operand, with the ISA level
/// chosen once (callers run it inside their own parallel loops, row by row): int8 codes (q, or
/// q − 128 for asymmetric 8-bit, whose q ∈ [0, 255] does not fit int8), the scale, the zero point
/// z (the GEMM's offset is z + code_bias()) and Σ codes. The codes are those of
/// quantize_activations_to_bytes plus code_bias(), on every ISA level.
class GemmRowQuantizer {
 public:
  /// \throws UsageError unless cfg is per-token (kPerRow) and valid.
  explicit GemmRowQuantizer(QuantConfig const& cfg)
      : clip_(cfg.clip_ratio), asym_(cfg.symmetry == Symmetry::kAsym) {
    constexpr std::string_view kWhere = "GemmRowQuantizer";
    validate(cfg, kWhere);
    DFROT_THROW_IF(cfg.granularity != Granularity::kPerRow, UsageError, kWhere,
                   ": expected per-token (per-row) granularity");
    grid_ = make_grid<float>(cfg.bits, cfg.symmetry);
    bias_ = asym_ && cfg.bits == 8 ? -128 : 0;
    dispatch_isa<cpu::kActivationIsas>(active_isa(), [&]<Isa I>() {
      using K = cpu::ActivationKernels<I>;
      fn_ = asym_ ? &K::template gemm_row<true, float const*, std::size_t, float, Grid<float> const&, int,
                                         std::int8_t*, float*, float*, std::int32_t*>
                  : &K::template gemm_row<false, float const*, std::size_t, float, Grid<float> const&, int,
                                          std::int8_t*, float*, float*, std::int32_t*>;
    });
  }

  /// Quantizes x[0, n); false when the row holds NaN or Inf (codes unspecified, sum 0).
  bool operator()(float const* x, std::size_t n, std::int8_t* codes, float* scale, float* zero,
                  std::int32_t* code_sum) const noexcept {
    return fn_(x, n, clip_, grid_, bias_, codes, scale, zero, code_sum);
  }

  bool asym() const { return asym_; }
  /// What is added to every code q (−128 for asymmetric 8-bit, else 0).
  int code_bias() const { return bias_; }

 private:
  using Fn = bool (*)(float const*, std::size_t, float, Grid<float> const&, int, std::int8_t*,
                      float*, float*, std::int32_t*);
  Fn fn_ = nullptr;
  float clip_ = 1.0f;
  Grid<float> grid_{};
  int bias_ = 0;
  bool asym_ = false;
};

/// Fused dynamic quantize + pack (see quantize_activations_into).
inline QuantizedTensor quantize_activations(MatrixView<float const> x, QuantConfig const& cfg,
                                            int n_threads = 1) {
  QuantizedTensor out;
  quantize_activations_into(x, cfg, out, n_threads);
  return out;
}

}  // namespace dfrot::quant
