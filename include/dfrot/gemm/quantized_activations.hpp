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
  std::vector<float> zeros_scratch;  ///< asym zero points as the quantizer writes them

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
    zeros_scratch.resize(rows);
  }
};

/// The identity row transform: quantize_activations_for_gemm reads x where it is.
struct NoRowTransform {
  void operator()(MatrixView<float>) const noexcept {}
};

namespace detail {

// Zero padding, code sums and offsets of rows [begin, end) once their codes are written.
inline void finish_activation_rows(QuantizedActivations& out, std::size_t begin, std::size_t end,
                                   bool asym, bool shift) noexcept {
  std::size_t const n = out.n_cols, kp = out.k_pad;
  for (std::size_t t = begin; t < end; ++t) {
    std::int8_t* r = out.codes.data() + t * kp;
    if (kp > n) std::memset(r + n, 0, kp - n);
    std::int32_t sum = 0;
    if (shift) {
      auto* u = reinterpret_cast<std::uint8_t*>(r);
      for (std::size_t k = 0; k < n; ++k) {
        int const c = static_cast<int>(u[k]) - 128;
        r[k] = static_cast<std::int8_t>(c);
        sum += c;
      }
    } else {
      for (std::size_t k = 0; k < n; ++k) sum += r[k];
    }
    out.code_sums[t] = sum;
    int const z = asym ? static_cast<int>(out.zeros_scratch[t]) : 0;
    out.offsets[t] = shift ? z - 128 : z;
  }
}

}  // namespace detail

/// Quantizes x [n × d] per token (QuantizationHooks' fake path uses the same kernel, so codes and
/// scales are identical to it) into `out`, reusing its storage.
///
/// With a `transform` (the online Hadamard of the site), each block of rows is first copied into
/// a per-thread buffer small enough for L1, transformed there in place and quantized from it: x is
/// read once and the transformed floats are never written back (PERF_GOALS C4). The codes equal
/// those of transforming x in place and then quantizing it, bit for bit, as long as `transform`
/// treats every row on its own. `transform(rows)` gets a contiguous [r × d] view and must not
/// throw (check its size against d before).
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
  out.resize(x.rows(), x.cols());
  std::size_t const n = x.cols(), kp = out.k_pad;
  bool const asym = cfg.symmetry == quant::Symmetry::kAsym;
  bool const shift = asym && cfg.bits == 8;
  constexpr bool kTransform = !std::is_same_v<RowTransform, NoRowTransform>;
  // Rows per block: a transformed block is ≤ 16 KB of floats (L1), a plain one 16 rows.
  std::size_t const block = kTransform ? std::max<std::size_t>(1, 4096 / n) : 16;
  std::size_t const n_blocks = (x.rows() + block - 1) / block;
  std::atomic<std::size_t> n_bad{0};
  parallel_for(n_blocks, n_threads, std::max<std::size_t>(1, 16 / block),
               [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      std::size_t const begin = b * block, rows = std::min(block, x.rows() - begin);
      MatrixView<float const> src(x.row(begin), rows, n, x.row_stride());
      if constexpr (kTransform) {
        thread_local std::vector<float> buffer;  // grows once per thread, then reused
        if (buffer.size() < rows * n) buffer.resize(block * n);
        for (std::size_t r = 0; r < rows; ++r)
          std::memcpy(buffer.data() + r * n, x.row(begin + r), n * sizeof(float));
        transform(MatrixView<float>(buffer.data(), rows, n));
        src = MatrixView<float const>(buffer.data(), rows, n);
      }
      n_bad += quant::quantize_activation_rows_to_bytes(
          src, cfg,
          MatrixView<std::uint8_t>(reinterpret_cast<std::uint8_t*>(out.codes.data() + begin * kp),
                                   rows, n, kp),
          out.scales.data() + begin, asym ? out.zeros_scratch.data() + begin : nullptr);
      detail::finish_activation_rows(out, begin, begin + rows, asym, shift);
    }
  });
  DFROT_THROW_IF(n_bad.load() != 0, NumericError, kWhere, ": input contains NaN or Inf in ",
                 n_bad.load(), " of ", x.rows(), " rows");
}

}  // namespace dfrot::gemm
