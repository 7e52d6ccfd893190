// SPDX-License-Identifier: Apache-2.0
// GPTQ: streaming float64 Hessian accumulation and the blocked column sweep (ALGORITHMS.md §3.3).
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/quant/grid.hpp"
#include "dfrot/quant/quant_config.hpp"
#include "dfrot/quant/quantized_tensor.hpp"
#include "dfrot/quant/rtn.hpp"

namespace dfrot::quant {

/// Streaming accumulator of the GPTQ Hessian H = (2/N)·Σ_tokens x xᵀ (N = number of calibration
/// sequences, as the reference's running average), in float64. Only the lower triangle of Σ x xᵀ
/// is accumulated, in column blocks spread over `n_threads`. Feed it one layer input at a time;
/// "true sequential" pipelines create one accumulator per linear group.
class HessianAccumulator {
 public:
  /// Products in float64 (the default, exact reference) or, with `Products::kFloat32Chunks`,
  /// float32 GEMMs over chunks of kChunkTokens tokens summed into the float64 total: ~6× faster
  /// on CPUs, relative error ~1e-7·√chunk per entry — far below GPTQ's damping (1% of mean diag).
  enum class Products { kFloat64, kFloat32Chunks };

  explicit HessianAccumulator(std::size_t n_cols, int n_threads = 1,
                              Products products = Products::kFloat64)
      : n_cols_(n_cols),
        n_threads_(n_threads),
        products_(products),
        sum_(Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(n_cols),
                                   static_cast<Eigen::Index>(n_cols))) {}

  /// Adds calibration inputs x [n_tokens × n_cols] that belong to `n_sequences` sequences.
  /// \throws ShapeError on a width mismatch, NumericError (naming `layer`) on NaN/Inf input.
  void add(MatrixView<float const> x, std::size_t n_sequences = 1, std::string_view layer = "") {
    DFROT_THROW_IF(x.cols() != n_cols_, ShapeError, "gptq hessian '", layer, "': inputs have ",
                   x.cols(), " columns, expected ", n_cols_);
    Eigen::Index const d = static_cast<Eigen::Index>(n_cols_);
    std::size_t const chunk = kChunkTokens;
    Eigen::MatrixXd xd;
    Eigen::MatrixXf xf;
    bool const f32 = products_ == Products::kFloat32Chunks;
    for (std::size_t t0 = 0; t0 < x.rows(); t0 += chunk) {
      std::size_t const nt = std::min(chunk, x.rows() - t0);
      if (f32) xf.resize(static_cast<Eigen::Index>(nt), d);
      else xd.resize(static_cast<Eigen::Index>(nt), d);
      double bad = 0.0;
      for (std::size_t t = 0; t < nt; ++t) {
        float const* row = x.row(t0 + t);
        for (Eigen::Index c = 0; c < d; ++c) {
          double const v = static_cast<double>(row[c]);
          if (f32) xf(static_cast<Eigen::Index>(t), c) = row[c];
          else xd(static_cast<Eigen::Index>(t), c) = v;
          bad = bad + v * 0.0;
        }
      }
      DFROT_THROW_IF(std::isnan(bad), NumericError, "gptq hessian '", layer,
                     "': calibration input contains NaN or Inf");
      if (f32) accumulate(xf);
      else accumulate(xd);
    }
    n_sequences_ += n_sequences;
    n_tokens_ += x.rows();
  }

  std::size_t n_cols() const { return n_cols_; }
  std::size_t n_sequences() const { return n_sequences_; }
  std::size_t n_tokens() const { return n_tokens_; }

  /// The full symmetric H = (2/N)·Σ x xᵀ (zero when nothing was added).
  Eigen::MatrixXd hessian() const {
    Eigen::MatrixXd h = sum_.selfadjointView<Eigen::Lower>();
    if (n_sequences_ > 0) h *= 2.0 / static_cast<double>(n_sequences_);
    return h;
  }

  /// hessian() built in the accumulator's own storage, which it takes (the accumulator is empty
  /// afterwards): one n × n matrix fewer at the peak (LLaMA-7B's down_proj: 0.97 GB each).
  Eigen::MatrixXd take_hessian() && {
    sum_.triangularView<Eigen::StrictlyUpper>() = sum_.transpose();
    if (n_sequences_ > 0) sum_ *= 2.0 / static_cast<double>(n_sequences_);
    return std::move(sum_);
  }

  /// Tokens per float32 product (Products::kFloat32Chunks).
  static constexpr std::size_t kChunkTokens = 1024;

 private:
  static constexpr Eigen::Index kBlock = 256;

  // sum_[j0:, j0:j1] += X[:, j0:]ᵀ X[:, j0:j1] for every column block (lower triangle), blocks
  // scheduled dynamically (largest first) over the threads; Eigen runs single-threaded inside.
  template <class Matrix>
  void accumulate(Matrix const& xc) {
    Eigen::Index const d = xc.cols();
    Eigen::Index const n_blocks = (d + kBlock - 1) / kBlock;
    int const threads = resolve_threads(n_threads_);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
    for (Eigen::Index b = 0; b < n_blocks; ++b) {
      Eigen::Index const j0 = b * kBlock;
      Eigen::Index const w = std::min(kBlock, d - j0);
      if constexpr (std::is_same_v<typename Matrix::Scalar, double>) {
        sum_.block(j0, j0, d - j0, w).noalias() +=
            xc.middleCols(j0, d - j0).transpose() * xc.middleCols(j0, w);
      } else {
        Eigen::MatrixXf const part = xc.middleCols(j0, d - j0).transpose() * xc.middleCols(j0, w);
        sum_.block(j0, j0, d - j0, w) += part.template cast<double>();
      }
    }
  }

  std::size_t n_cols_;
  int n_threads_;
  Products products_;
  Eigen::MatrixXd sum_;
  std::size_t n_sequences_ = 0;
  std::size_t n_tokens_ = 0;
};

/// GPTQ settings; defaults are the reference code's (blocksize 128, percdamp 0.01, no act-order,
/// no static groups). `quant.granularity` must be kPerRow (per output channel) or kPerGroup.
struct GptqConfig {
  QuantConfig quant;
  ClipSearchConfig clip;         ///< MSE clip search in find_params (`--w-clip`)
  std::size_t block_size = 128;  ///< lazy-update block
  double percdamp = 0.01;        ///< damping = percdamp · mean(diag H)
  bool act_order = false;        ///< process columns by descending diag(H)
  bool static_groups = false;    ///< group parameters from the original W up front
  int n_threads = 1;             ///< threads for the block updates
  int max_damping_retries = 6;   ///< extra damping ×10 per retry when the Cholesky fails
};

/// Outcome of a solve (STYLE.md B.9): kSuccess, or kDampingIncreased when the damped Hessian was
/// not positive definite and more damping had to be added (the result is still finite).
enum class SolveStatus { kSuccess, kDampingIncreased };

struct SolveInfo {
  SolveStatus status = SolveStatus::kSuccess;
  std::size_t n_dead_columns = 0;  ///< columns with diag(H) == 0 (zeroed)
  double damping = 0.0;            ///< total λ added to diag(H)
  int n_damping_retries = 0;
  double loss = 0.0;  ///< Σ (w − q)² / Hinv_ii² / 2, the reference's `Losses` sum
};

/// Result of gptq_quantize. `weights` are the dequantized float64 values rounded to float;
/// `quantized` holds the codes and float parameters (original column order; with act-order and
/// dynamic groups its `group_index` maps each column to its group).
struct GptqResult {
  std::vector<float> weights;  ///< [out × in] row-major
  QuantizedTensor quantized;
  std::vector<std::size_t> perm;  ///< processing order (identity without act-order)
  SolveInfo info;
};

namespace detail {

/// Upper-triangular U with H⁻¹ = Uᵀ U (torch: cholesky(cholesky_inverse(cholesky(H)), upper)).
/// With J the reversal permutation, J H J = L Lᵀ gives U = J L⁻¹ J: one Cholesky and one
/// triangular inverse instead of inverse + second Cholesky. Factors `h` in place (it holds L
/// afterwards), so the peak is two n × n matrices. Returns false when H is not PD.
inline bool upper_cholesky_of_inverse(Eigen::MatrixXd& h, Eigen::MatrixXd& u) {
  h.reverseInPlace();  // J H J
  Eigen::LLT<Eigen::Ref<Eigen::MatrixXd>> llt(h);
  if (llt.info() != Eigen::Success) return false;
  Eigen::Index const n = h.rows();
  u.setIdentity(n, n);
  llt.matrixL().solveInPlace(u);
  u.reverseInPlace();  // J L⁻¹ J
  u.triangularView<Eigen::StrictlyLower>().setZero();
  return u.allFinite() && (u.diagonal().array() > 0.0).all();
}

}  // namespace detail

/// GPTQ (ALGORITHMS.md §3.3) of weights w [out × in] with Hessian h [in × in] (e.g. from
/// HessianAccumulator). Dead columns (diag 0) are zeroed; damping percdamp·mean(diag H); U = upper
/// Cholesky of H⁻¹; blocked sweep with lazy updates; optional act-order; group parameters at each
/// group start from the fully updated columns (or from the original W with static_groups).
/// Never returns NaN/Inf.
/// \param layer name used in error messages (e.g. "layers.3.mlp.down_proj")
/// \param scales_from per-row granularity only: when not empty, the per-row scales (and the clip
///        search) come from these weights of w's shape instead of w — GPTQ on a least-squares
///        target W* keeps the grid the original W would get (pipeline/gptq_model.hpp).
/// \throws UsageError (config), ShapeError (shapes, group size), NumericError (NaN/Inf in w or h,
///         or "diverged" when the sweep produced non-finite values or H stays non-PD).
inline GptqResult gptq_quantize(MatrixView<float const> w, Eigen::MatrixXd const& h,
                                GptqConfig const& cfg, std::string_view layer,
                                MatrixView<float const> scales_from = {}) {
  std::string const where = str_cat("gptq '", layer, "'");
  QuantConfig const& qc = cfg.quant;
  validate(qc, where);
  validate(cfg.clip, where);
  DFROT_THROW_IF(qc.granularity == Granularity::kPerTensor, UsageError, where,
                 ": per-tensor granularity is not supported (use per-row or per-group)");
  DFROT_THROW_IF(cfg.block_size == 0 || !(cfg.percdamp >= 0.0), UsageError, where,
                 ": block size must be > 0 and percdamp >= 0");
  std::size_t const rows = w.rows(), cols = w.cols();
  DFROT_THROW_IF(rows == 0 || cols == 0, ShapeError, where, ": empty weight ", rows, "x", cols);
  DFROT_THROW_IF(
      static_cast<std::size_t>(h.rows()) != cols || static_cast<std::size_t>(h.cols()) != cols,
      ShapeError, where, ": hessian is ", h.rows(), "x", h.cols(), ", expected ", cols, "x", cols);
  DFROT_THROW_IF(!h.allFinite(), NumericError, where, ": hessian contains NaN or Inf");
  detail::check_finite(w, where);
  bool const grouped = qc.granularity == Granularity::kPerGroup;
  std::size_t const gs = group_columns(qc, cols, where);
  std::size_t const n_groups = cols / gs;
  Grid<double> const g = make_grid<double>(qc.bits, qc.symmetry);
  double const clip_ratio = static_cast<double>(qc.clip_ratio);
  Eigen::Index const R = static_cast<Eigen::Index>(rows), N = static_cast<Eigen::Index>(cols);

  Eigen::MatrixXd W(R, N);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c)
      W(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = static_cast<double>(w(r, c));

  auto find_params = [&](auto value_of, std::size_t n, std::vector<QuantParams<double>>& out) {
    parallel_for(rows, cfg.n_threads, 16, [&](std::size_t begin, std::size_t end) {
      std::vector<double> seg(n);
      for (std::size_t r = begin; r < end; ++r) {
        for (std::size_t j = 0; j < n; ++j) seg[j] = value_of(r, j);
        out[r] = weight_group_params<double>(seg, g, clip_ratio, cfg.clip);
      }
    });
  };

  GptqResult res;
  SolveInfo& info = res.info;
  std::vector<QuantParams<double>> params(rows);
  bool const own_scales = scales_from.rows() == 0;
  DFROT_THROW_IF(!own_scales && (grouped || scales_from.rows() != rows || scales_from.cols() != cols),
                 UsageError, where, ": scales from other weights need per-row scales and the same shape");
  if (!own_scales) detail::check_finite(scales_from, where);
  if (!grouped && own_scales) {
    find_params([&](std::size_t r, std::size_t j) { return W(Eigen::Index(r), Eigen::Index(j)); },
                cols, params);
  } else if (!grouped) {
    find_params([&](std::size_t r, std::size_t j) { return static_cast<double>(scales_from(r, j)); }, cols, params);
  }
  // Dead columns (diag 0): H(d, d) = 1 and W's column zeroed. H itself is never copied whole: the
  // damped matrix that is factored is built from h (fixed, permuted) on each attempt.
  std::vector<char> dead(cols, 0);
  for (Eigen::Index d = 0; d < N; ++d) {
    if (h(d, d) == 0.0) {
      dead[std::size_t(d)] = 1;
      W.col(d).setZero();
      ++info.n_dead_columns;
    }
  }
  auto fixed_diag = [&](std::size_t c) { return dead[c] ? 1.0 : h(Eigen::Index(c), Eigen::Index(c)); };
  // Static groups: parameters of each original group from W (dead columns zeroed).
  std::vector<std::vector<QuantParams<double>>> static_params;
  if (grouped && cfg.static_groups) {
    static_params.assign(n_groups, std::vector<QuantParams<double>>(rows));
    for (std::size_t k = 0; k < n_groups; ++k) {
      find_params([&](std::size_t r,
                      std::size_t j) { return W(Eigen::Index(r), Eigen::Index(k * gs + j)); },
                  gs, static_params[k]);
    }
  }
  std::vector<std::size_t>& perm = res.perm;
  perm.resize(cols);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  if (cfg.act_order) {
    std::stable_sort(perm.begin(), perm.end(), [&](std::size_t a, std::size_t b) {
      return fixed_diag(a) > fixed_diag(b);
    });
    Eigen::MatrixXd Wp(R, N);
    for (Eigen::Index c = 0; c < N; ++c) Wp.col(c) = W.col(Eigen::Index(perm[std::size_t(c)]));
    W.swap(Wp);
  }
  // P H Pᵀ with the dead-column fix, into `out`.
  auto build_h = [&](Eigen::MatrixXd& out) {
    if (cfg.act_order) {
      out.resize(N, N);
      for (Eigen::Index j = 0; j < N; ++j)
        for (Eigen::Index i = 0; i < N; ++i)
          out(i, j) = h(Eigen::Index(perm[std::size_t(i)]), Eigen::Index(perm[std::size_t(j)]));
    } else {
      out = h;
    }
    for (Eigen::Index d = 0; d < N; ++d)
      if (dead[perm[std::size_t(d)]]) out(d, d) = 1.0;
  };
  // Damping, then U with H⁻¹ = Uᵀ U; more damping (×10 per retry) if H is not PD.
  Eigen::MatrixXd Hd, U;
  build_h(Hd);
  double const mean_diag = Hd.diagonal().mean();
  double damp = cfg.percdamp * mean_diag;
  for (;;) {
    Hd.diagonal().array() += damp;
    if (detail::upper_cholesky_of_inverse(Hd, U)) break;
    DFROT_THROW_IF(info.n_damping_retries >= cfg.max_damping_retries, NumericError, where,
                   ": diverged: the damped hessian is not positive definite after ",
                   info.n_damping_retries, " retries (damping ", damp, ")");
    ++info.n_damping_retries;
    damp = (damp > 0.0 ? damp * 10.0 : 1e-8 * std::max(mean_diag, 1.0));
    info.status = SolveStatus::kDampingIncreased;
    build_h(Hd);
  }
  Hd.resize(0, 0);  // holds L: no longer needed
  info.damping = damp;

  // Output containers.
  res.quantized = QuantizedTensor::allocate(qc.bits, qc.symmetry, rows, cols, gs);
  QuantizedTensor& qt = res.quantized;
  if (grouped && cfg.act_order && !cfg.static_groups) qt.group_index.assign(cols, 0);
  Eigen::MatrixXd Q(R, N);
  auto store_params = [&](std::size_t k, std::vector<QuantParams<double>> const& p) {
    for (std::size_t r = 0; r < rows; ++r) {
      qt.scales[r * n_groups + k] = static_cast<float>(p[r].scale);
      if (!qt.zeros.empty()) qt.zeros[r * n_groups + k] = static_cast<float>(p[r].zero);
    }
  };
  if (!grouped) store_params(0, params);
  if (grouped && cfg.static_groups)
    for (std::size_t k = 0; k < n_groups; ++k) store_params(k, static_params[k]);

  int const eigen_threads = Eigen::nbThreads();
  Eigen::setNbThreads(resolve_threads(cfg.n_threads));
  Eigen::Index const B = static_cast<Eigen::Index>(cfg.block_size);
  Eigen::MatrixXd W1, Err1;
  for (Eigen::Index i1 = 0; i1 < N; i1 += B) {
    Eigen::Index const i2 = std::min(i1 + B, N), count = i2 - i1;
    W1 = W.middleCols(i1, count);
    Err1.setZero(R, count);
    for (Eigen::Index i = 0; i < count; ++i) {
      Eigen::Index const col = i1 + i;
      std::size_t const ucol = static_cast<std::size_t>(col);
      if (grouped && !cfg.static_groups && ucol % gs == 0) {
        // Fully updated group columns: in-block ones from W1, later ones with pending updates.
        Eigen::Index const end = col + static_cast<Eigen::Index>(gs);
        Eigen::MatrixXd later;
        if (end > i2) {
          later = W.middleCols(i2, end - i2);
          if (i > 0) later.noalias() -= Err1.leftCols(i) * U.block(i1, i2, i, end - i2);
        }
        find_params(
            [&](std::size_t r, std::size_t j) {
              Eigen::Index const c = col + Eigen::Index(j);
              return c < i2 ? W1(Eigen::Index(r), c - i1) : later(Eigen::Index(r), c - i2);
            },
            gs, params);
        store_params(ucol / gs, params);
        if (!qt.group_index.empty()) {
          for (std::size_t j = 0; j < gs; ++j)
            qt.group_index[perm[ucol + j]] = static_cast<std::uint32_t>(ucol / gs);
        }
      }
      double const d = U(col, col);
      std::vector<QuantParams<double>> const& p =
          grouped && cfg.static_groups ? static_params[perm[ucol] / gs] : params;
      for (Eigen::Index r = 0; r < R; ++r) {
        double const x = W1(r, i);
        QuantParams<double> const pr = p[std::size_t(r)];
        double const qcode = quantize_code(x, pr, g);
        double const qv = dequantize_code(qcode, pr, g);
        Q(r, col) = qv;
        qt.set_code(std::size_t(r), perm[ucol], static_cast<int>(qcode));
        double const e = x - qv;
        info.loss += e * e / (d * d) / 2.0;
        Err1(r, i) = e / d;
      }
      if (i + 1 < count) {
        W1.rightCols(count - i - 1).noalias() -=
            Err1.col(i) * U.row(col).segment(col + 1, count - i - 1);
      }
    }
    if (i2 < N) W.rightCols(N - i2).noalias() -= Err1 * U.block(i1, i2, count, N - i2);
  }
  Eigen::setNbThreads(eigen_threads);

  DFROT_THROW_IF(!Q.allFinite() || !std::isfinite(info.loss), NumericError, where,
                 ": diverged: the GPTQ sweep produced NaN/Inf weights (check the calibration "
                 "inputs and the damping)");
  res.weights.resize(rows * cols);
  for (std::size_t c = 0; c < cols; ++c)
    for (std::size_t r = 0; r < rows; ++r)
      res.weights[r * cols + perm[c]] = static_cast<float>(Q(Eigen::Index(r), Eigen::Index(c)));
  return res;
}

/// GPTQ with the Hessian of an accumulator.
inline GptqResult gptq_quantize(MatrixView<float const> w, HessianAccumulator const& acc,
                                GptqConfig const& cfg, std::string_view layer) {
  return gptq_quantize(w, acc.hessian(), cfg, layer);
}

}  // namespace dfrot::quant
