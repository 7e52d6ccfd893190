// SPDX-License-Identifier: Apache-2.0
// Weight round-to-nearest (RTN) quantization with the optional MSE clipping search (`--w-clip`).
#pragma once

#include <cmath>
#include <cstddef>
#include <algorithm>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/quant/cpu/clip_kernels.hpp"
#include "dfrot/quant/grid.hpp"
#include "dfrot/quant/quant_config.hpp"
#include "dfrot/quant/quantized_tensor.hpp"

namespace dfrot::quant {

/// Σ_j |Q(w_j) − w_j|^norm, the clip search's error (ALGORITHMS.md §3.2), on the best SIMD level
/// (clip_kernels.inl): each difference scale·(q − zero) − w is rounded once (an FMA), the power is
/// dfrot's own float64 exp/log (relative error < 3·10⁻⁹ against the exact power; norm 2 squares),
/// and the terms are summed in double in 16 lanes in a fixed order, so the result is the same
/// double on every ISA level. Stops as soon as the partial sum reaches `bound` (the terms are ≥ 0,
/// so such a candidate can no longer be a strict improvement) and returns the partial sum.
template <QuantScalar T>
double clip_error(std::span<T const> w, QuantParams<T> p, Grid<T> const& g, double norm,
                  double bound = std::numeric_limits<double>::infinity()) {
  return cpu::clip_error<T>(active_isa(), w.data(), w.size(), p, g, norm, bound);
}

/// Parameters of one weight group (a row, a row segment or a whole tensor), ALGORITHMS.md §3.2.
/// Range [min(min w, 0), max(max w, 0)]·clip_ratio, then the weight rule of grid.hpp. With
/// `clip.enabled`, candidates p = 1 − i/grid (i = 0 … int(max_shrink·grid)−1) scale the range
/// (sym: the 1e-5-clamped absmax; asym: [lo, hi]) without re-clamping and the first candidate with
/// the strictly smallest clip_error wins (ties keep the wider range). A candidate whose scale
/// underflows to 0 is skipped.
/// \pre w is finite and non-empty.
template <QuantScalar T>
QuantParams<T> weight_group_params(std::span<T const> w, Grid<T> const& g, T clip_ratio,
                                   ClipSearchConfig const& clip = {}) {
  T lo = T(0), hi = T(0);
  for (T const x : w) {
    lo = min_like_simd(lo, x);
    hi = max_like_simd(hi, x);
  }
  lo = lo * clip_ratio;
  hi = hi * clip_ratio;
  QuantParams<T> best_p = weight_params(lo, hi, g, /*clamp_min=*/true);
  if (!clip.enabled) return best_p;
  bool const sym = g.symmetry == Symmetry::kSym;
  T const m = max_like_simd(max_like_simd(std::abs(lo + T(0)), std::abs(hi + T(0))), T(1e-5));
  if (!sym && lo == T(0) && hi == T(0)) {
    lo = T(-1);
    hi = T(1);
  }
  double best = std::numeric_limits<double>::infinity();
  int const n_candidates = static_cast<int>(clip.max_shrink * clip.grid);
  for (int i = 0; i < n_candidates; ++i) {
    T const p = static_cast<T>(1.0 - static_cast<double>(i) / clip.grid);
    QuantParams<T> cand;
    if (sym) {
      cand = {(p * m) / g.maxq, T(0)};
    } else {
      T const lo1 = p * lo, hi1 = p * hi;
      T const scale = (hi1 - lo1) / g.maxq;
      if (!(scale > T(0))) continue;
      cand = {scale, round_half_even(-lo1 / scale) + T(0)};
    }
    if (!(cand.scale > T(0))) continue;
    double const err = clip_error(w, cand, g, clip.norm, best);
    if (err < best) {
      best = err;
      best_p = cand;
    }
  }
  return best_p;
}

namespace detail {

inline void check_finite(MatrixView<float const> m, std::string_view where) {
  for (std::size_t r = 0; r < m.rows(); ++r) {
    float const* row = m.row(r);
    float acc = 0.0f;
    for (std::size_t c = 0; c < m.cols(); ++c)
      acc = acc + row[c] * 0.0f;  // NaN iff a value is not finite
    DFROT_THROW_IF(std::isnan(acc), NumericError, where, ": input row ", r, " contains NaN or Inf");
  }
}

/// Shared body of the weight quantizers: params per (row, group), then `emit(r, c, q, p)`.
template <class Emit>
void rtn_rows(MatrixView<float const> w, QuantConfig const& cfg, ClipSearchConfig const& clip,
              int n_threads, std::string_view where, std::vector<QuantParams<float>>& params,
              std::size_t& gs, Emit&& emit) {
  validate(cfg, where);
  validate(clip, where);
  DFROT_THROW_IF(w.rows() == 0 || w.cols() == 0, ShapeError, where, ": empty matrix ", w.rows(),
                 "x", w.cols());
  check_finite(w, where);
  Grid<float> const g = make_grid<float>(cfg.bits, cfg.symmetry);
  gs = group_columns(cfg, w.cols(), where);
  std::size_t const n_groups = w.cols() / gs;
  params.assign(w.rows() * n_groups, {});
  if (cfg.granularity == Granularity::kPerTensor) {
    std::vector<float> all;
    all.reserve(w.rows() * w.cols());
    for (std::size_t r = 0; r < w.rows(); ++r) all.insert(all.end(), w.row(r), w.row(r) + w.cols());
    QuantParams<float> const p = weight_group_params<float>(all, g, cfg.clip_ratio, clip);
    for (auto& q : params) q = p;
  } else {
    parallel_for(w.rows(), n_threads, 1, [&](std::size_t begin, std::size_t end) {
      for (std::size_t r = begin; r < end; ++r) {
        for (std::size_t k = 0; k < n_groups; ++k) {
          params[r * n_groups + k] = weight_group_params<float>(
              std::span<float const>(w.row(r) + k * gs, gs), g, cfg.clip_ratio, clip);
        }
      }
    });
  }
  parallel_for(w.rows(), n_threads, 16, [&](std::size_t begin, std::size_t end) {
    for (std::size_t r = begin; r < end; ++r) {
      for (std::size_t c = 0; c < w.cols(); ++c) {
        QuantParams<float> const p = params[r * n_groups + c / gs];
        emit(r, c, quantize_code(w(r, c), p, g), p);
      }
    }
  });
}

}  // namespace detail

/// Weight RTN fake quantization (ALGORITHMS.md §3.2): per output channel (kPerRow, the usual
/// setting), per group of columns, or per tensor; zero always inside the range; optional MSE clip
/// search. Rows are split over `n_threads`.
/// \param w   weights [out × in] (PyTorch Linear layout)
/// \param out [out × in]; may alias w
/// \throws UsageError (config), ShapeError (group size does not divide `in`, shape mismatch),
///         NumericError (NaN/Inf in w).
inline void fake_quantize_weights(MatrixView<float const> w, MatrixView<float> out,
                                  QuantConfig const& cfg, ClipSearchConfig const& clip = {},
                                  int n_threads = 1) {
  constexpr std::string_view kWhere = "fake_quantize_weights";
  DFROT_THROW_IF(out.rows() != w.rows() || out.cols() != w.cols(), ShapeError, kWhere,
                 ": output is ", out.rows(), "x", out.cols(), " but the weights are ", w.rows(),
                 "x", w.cols());
  Grid<float> const g = make_grid<float>(cfg.bits, cfg.symmetry);
  std::vector<QuantParams<float>> params;
  std::size_t gs = 0;
  detail::rtn_rows(w, cfg, clip, n_threads, kWhere, params, gs,
                   [&](std::size_t r, std::size_t c, float q, QuantParams<float> p) {
                     out(r, c) = dequantize_code(q, p, g);
                   });
}

/// Weight RTN real quantization: codes (packed int4 for ≤ 4 bits) + per-(row, group) scales and
/// zero points. Per-tensor stores the one (scale, zero) in every row.
/// \throws as fake_quantize_weights.
inline QuantizedTensor quantize_weights(MatrixView<float const> w, QuantConfig const& cfg,
                                        ClipSearchConfig const& clip = {}, int n_threads = 1) {
  constexpr std::string_view kWhere = "quantize_weights";
  validate(cfg, kWhere);
  std::size_t const gs0 = group_columns(cfg, w.cols(), kWhere);
  QuantizedTensor t = QuantizedTensor::allocate(cfg.bits, cfg.symmetry, w.rows(), w.cols(), gs0);
  std::vector<QuantParams<float>> params;
  std::size_t gs = 0;
  // Packed rows: two columns share a byte, so each thread owns whole rows (no data race).
  detail::rtn_rows(w, cfg, clip, n_threads, kWhere, params, gs,
                   [&](std::size_t r, std::size_t c, float q, QuantParams<float>) {
                     t.set_code(r, c, static_cast<int>(q));
                   });
  for (std::size_t i = 0; i < params.size(); ++i) {
    t.scales[i] = params[i].scale;
    if (!t.zeros.empty()) t.zeros[i] = params[i].zero;
  }
  return t;
}

}  // namespace dfrot::quant
