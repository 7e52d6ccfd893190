// SPDX-License-Identifier: Apache-2.0
// QuantizedActivations: dynamically quantized activations as int8 codes (the signed operand of the
// integer GEMM), one (scale, offset) per token, and the per-token code sums of the epilogue.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <vector>

#include "dfrot/core/aligned_buffer.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/gemm/packed_int4_weights.hpp"
#include "dfrot/quant/activation_quant.hpp"
#include "dfrot/quant/quant_config.hpp"

namespace dfrot::gemm {

/// Codes per activation row are padded to a multiple of this (the AMX kernels' tile k).
inline constexpr std::size_t kActivationRowAlign = 64;

/// Token t's values are x̂[t, k] = scale[t]·(code[t, k] − offset[t]) with int8 codes:
/// - symmetric b-bit: code = q ∈ [−2^(b−1), 2^(b−1)−1], offset 0;
/// - asymmetric b ≤ 7: code = q ∈ [0, 2^b − 1], offset = zero point z;
/// - asymmetric 8-bit: code = q − 128, offset = z − 128 (q ∈ [0, 255] does not fit int8).
/// Rows are `k_pad` codes long (a multiple of 64: one AMX tile row, a whole number of the other
/// kernels' 8-column octets) with zero padding, so no kernel reads past a row. `code_sums[t] = Σ_k code[t, k]` feeds the epilogue correction (see gemm.hpp).
struct QuantizedActivations {
  std::size_t n_rows = 0;
  std::size_t n_cols = 0;
  std::size_t k_pad = 0;
  AlignedBuffer<std::int8_t> codes;  ///< [n_rows × k_pad]
  std::vector<float> scales;
  std::vector<std::int32_t> offsets;
  std::vector<std::int32_t> code_sums;

  std::int8_t const* row(std::size_t t) const { return codes.data() + t * k_pad; }

  /// Sizes the buffers for [n_rows × n_cols]; keeps the storage when it is large enough, so a
  /// decode loop does not allocate.
  void resize(std::size_t rows, std::size_t cols) {
    n_rows = rows;
    n_cols = cols;
    k_pad = round_up(cols, kActivationRowAlign);
    if (codes.size() < rows * k_pad) codes = AlignedBuffer<std::int8_t>(rows * k_pad);
    scales.resize(rows);
    offsets.resize(rows);
    code_sums.resize(rows);
  }
};

/// The identity row transform: quantize_activations_for_gemm reads x where it is.
struct NoRowTransform {
  void operator()(float const*, float*) const noexcept {}
};

/// Quantizes x [n × d] per token into `out`, reusing its storage (QuantizationHooks' fake path
/// quantizes with the same rule, so codes and scales are identical to it).
///
/// With a `transform` (the online Hadamard of the site), each row is transformed out of place
/// into a per-thread buffer of d floats (L1) and quantized from there: x is read once and the
/// transformed floats are never written back (PERF_GOALS C4). The codes equal those of
/// transforming x and then quantizing it, bit for bit, as long as the transform treats every row
/// on its own. `transform(src, dst)` maps one row of d floats to another (no overlap) and must not
/// throw (check its size against d before), e.g. hadamard::HadamardTransform::RowKernel.
/// \throws UsageError unless cfg is per-token (kPerRow) with 2…8 bits, NumericError on NaN/Inf
///         (after the transform).
template <class RowTransform = NoRowTransform>
void quantize_activations_for_gemm(MatrixView<float const> x, quant::QuantConfig const& cfg,
                                   QuantizedActivations& out, int n_threads = 1,
                                   RowTransform const& transform = {}) {
  constexpr std::string_view kWhere = "quantize_activations_for_gemm";
  DFROT_THROW_IF(cfg.granularity != quant::Granularity::kPerRow, UsageError, kWhere,
                 ": the integer GEMM takes one scale per token; per-group activations (",
                 quant::to_string(cfg.granularity), ") run on the fake-quant path");
  quant::validate(cfg, kWhere);
  DFROT_THROW_IF(x.cols() == 0, ShapeError, kWhere, ": rows have no columns");
  quant::GemmRowQuantizer const quantize(cfg);
  out.resize(x.rows(), x.cols());
  std::size_t const n = x.cols(), kp = out.k_pad;
  constexpr bool kTransform = !std::is_same_v<RowTransform, NoRowTransform>;
  std::atomic<std::size_t> n_bad{0};
  parallel_for(x.rows(), n_threads, 16, [&](std::size_t begin, std::size_t end) {
    float* buffer = nullptr;
    if constexpr (kTransform) {
      thread_local std::vector<float> row;  // grows once per thread, then reused
      if (row.size() < n) row.resize(n);
      buffer = row.data();
    }
    std::size_t bad = 0;
    for (std::size_t t = begin; t < end; ++t) {
      float const* src = x.row(t);
      if constexpr (kTransform) {
        transform(src, buffer);
        src = buffer;
      }
      std::int8_t* codes = out.codes.data() + t * kp;
      float zero = 0.0f;
      if (!quantize(src, n, codes, &out.scales[t], &zero, &out.code_sums[t])) ++bad;
      if (kp > n) std::memset(codes + n, 0, kp - n);
      out.offsets[t] = (quantize.asym() ? static_cast<std::int32_t>(zero) : 0) + quantize.code_bias();
    }
    n_bad += bad;
  });
  DFROT_THROW_IF(n_bad.load() != 0, NumericError, kWhere, ": input contains NaN or Inf in ",
                 n_bad.load(), " of ", x.rows(), " rows");
}

}  // namespace dfrot::gemm
