// SPDX-License-Identifier: Apache-2.0
// ProcrustesBackend: the linear algebra of DFRot's alternating Procrustes (ALGORITHMS.md §4.5)
// behind an interface a GPU backend (cuBLAS GEMM + cuSOLVER SVD) can implement; the CPU one here
// is EigenProcrustesBackend.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <Eigen/QR>

#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/quant/activation_quant.hpp"
#include "dfrot/quant/quant_config.hpp"
#include "dfrot/rotation/massive_tokens.hpp"
#include "dfrot/rotation/polar_factor.hpp"

namespace dfrot::rotation {

/// Q of X = Q·R with diag(R) ≥ 0 (Householder QR in float64, then Q·diag(sign(diag R))). For a
/// nearly orthogonal X this is the orthogonal matrix closest to X up to O(‖XᵀX − I‖), so it
/// removes drift without the column sign flips of a plain QR (ALGORITHMS.md §4.5 step 4 notes
/// them in DFRot's code).
inline Eigen::MatrixXd orthonormalize_qr(Eigen::MatrixXd const& x) {
  DFROT_THROW_IF(x.rows() != x.cols() || x.rows() == 0, ShapeError,
                 "orthonormalize_qr: expected a non-empty square matrix, got ", x.rows(), "x",
                 x.cols());
  Eigen::HouseholderQR<Eigen::MatrixXd> const qr(x);
  Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(x.rows(), x.cols());
  Eigen::MatrixXd const& r = qr.matrixQR();  // R is its upper triangle
  for (Eigen::Index i = 0; i < x.cols(); ++i) {
    if (r(i, i) < 0) q.col(i) *= -1.0;
  }
  return q;
}

/// One evaluation of a rotation C on the bound rows: Y = A0·C, B = Qz(Y).
struct ProcrustesEvaluation {
  std::vector<double> row_sq_error;  ///< ‖y_t − Qz(y_t)‖² per row, unweighted, [N]
  Eigen::MatrixXd cross;             ///< M = Yᵀ·diag(w)·B (d×d); empty when not requested
};

namespace detail {
/// The checks every backend's bind() makes (`backend` names it in the message).
inline void check_procrustes_binding(MatrixView<float const> rows, std::span<double const> weights, int bits,
                                     char const* backend) {
  DFROT_THROW_IF(rows.rows() == 0 || rows.cols() == 0, ShapeError, backend, ": no calibration rows (",
                 rows.rows(), "x", rows.cols(), ")");
  DFROT_THROW_IF(weights.size() != rows.rows(), ShapeError, backend, ": ", weights.size(), " weights for ",
                 rows.rows(), " rows");
  quant::validate(massive_token_quantizer(bits), backend);
}
/// The checks every backend's evaluate() makes: bound rows of width d, a d×d rotation.
inline void check_procrustes_rotation(std::size_t n_rows, std::size_t d, Eigen::MatrixXd const& c, char const* backend) {
  DFROT_THROW_IF(n_rows == 0, UsageError, backend, ": evaluate() before bind()");
  DFROT_THROW_IF(static_cast<std::size_t>(c.rows()) != d || static_cast<std::size_t>(c.cols()) != d, ShapeError,
                 backend, ": rotation is ", c.rows(), "x", c.cols(), " but rows are ", d, " wide");
}
}  // namespace detail

/// The heavy operations of one Procrustes iteration. A backend owns whatever copy of the rows it
/// needs (the CPU one keeps a view; a GPU one uploads them once in bind()).
class ProcrustesBackend {
 public:
  virtual ~ProcrustesBackend() = default;
  /// Short name for reports ("eigen-cpu", "cuda").
  virtual std::string name() const = 0;
  /// Binds calibration rows A0 [N×d] and per-row weights w [N] (w_t = α² for massive tokens).
  /// The rows must outlive every evaluate() call.
  virtual void bind(MatrixView<float const> rows, std::span<double const> weights, int bits) = 0;
  /// For the d×d rotation `c`: Y = A0·C, B = Qz(Y) (per-token symmetric absmax, round half to
  /// even); fills the per-row squared errors and, when `want_cross`, M = Yᵀ·diag(w)·B.
  virtual void evaluate(Eigen::MatrixXd const& c, bool want_cross, ProcrustesEvaluation& out) = 0;
  /// P = U·Vᵀ of M (see polar_factor).
  virtual Eigen::MatrixXd polar(Eigen::MatrixXd const& m) { return polar_factor(m); }
  /// Removes the orthogonality drift of a product of rotations (see orthonormalize_qr).
  virtual Eigen::MatrixXd orthonormalize(Eigen::MatrixXd const& x) { return orthonormalize_qr(x); }
};

/// CPU backend on Eigen. Precision choices: the two N×d×d products run as float32 GEMMs (the rows
/// are float32 already, SGEMM is ~2× DGEMM and halves the memory traffic; the inner dimension of
/// Y = A0·C is only d), and the activation quantizer is the library's float32 kernel (the one the
/// quantized model runs). Where error accumulates over N — the sum of the per-block products
/// Y_bᵀ·diag(w)·B_b into M, the per-row and total squared errors — it is float64; so is every d×d
/// step (SVD, QR, products of rotations). Rows are processed in blocks of `block_rows` on
/// `n_threads` threads (parallel_for); each thread keeps its own float64 M, summed at the end.
class EigenProcrustesBackend final : public ProcrustesBackend {
 public:
  using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  explicit EigenProcrustesBackend(int n_threads = 0, std::size_t block_rows = 2048)
      : n_threads_(n_threads), block_rows_(std::max<std::size_t>(1, block_rows)) {}

  std::string name() const override { return "eigen-cpu"; }

  void bind(MatrixView<float const> rows, std::span<double const> weights, int bits) override {
    detail::check_procrustes_binding(rows, weights, bits, "EigenProcrustesBackend");
    rows_ = rows;
    weights_.assign(weights.begin(), weights.end());
    bits_ = bits;
  }

  void evaluate(Eigen::MatrixXd const& c, bool want_cross, ProcrustesEvaluation& out) override {
    std::size_t const n = rows_.rows(), d = rows_.cols();
    detail::check_procrustes_rotation(n, d, c, "EigenProcrustesBackend");
    auto const dd = static_cast<Eigen::Index>(d);
    RowMatrixF const cf = c.cast<float>();
    quant::QuantConfig const cfg = massive_token_quantizer(bits_);
    out.row_sq_error.assign(n, 0.0);
    std::size_t const n_blocks = (n + block_rows_ - 1) / block_rows_;
    out.cross.resize(0, 0);
    std::mutex reduce;
    std::vector<std::pair<std::size_t, Eigen::MatrixXd>> chunks;  // (first block, its M)
    parallel_for(n_blocks, n_threads_, 1, [&](std::size_t b0, std::size_t b1) {
      Eigen::MatrixXd m_acc;  // this chunk's float64 M, added to out.cross at the end
      if (want_cross) m_acc.setZero(dd, dd);
      RowMatrixF y, b;
      Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic> m_blk;
      for (std::size_t blk = b0; blk < b1; ++blk) {
        std::size_t const r0 = blk * block_rows_, r1 = std::min(n, r0 + block_rows_);
        auto const m = static_cast<Eigen::Index>(r1 - r0);
        Eigen::Map<RowMatrixF const, 0, Eigen::OuterStride<>> const a(
            rows_.row(r0), m, dd,
            Eigen::OuterStride<>(static_cast<Eigen::Index>(rows_.row_stride())));
        y.resize(m, dd);
        y.noalias() = a * cf;
        b.resize(m, dd);
        quant::fake_quantize_activations(MatrixView<float const>(y.data(), r1 - r0, d),
                                         MatrixView<float>(b.data(), r1 - r0, d), cfg, 1);
        for (Eigen::Index i = 0; i < m; ++i) {
          double s = 0;
          for (Eigen::Index j = 0; j < dd; ++j) {
            double const e = static_cast<double>(y(i, j)) - static_cast<double>(b(i, j));
            s += e * e;
          }
          std::size_t const t = r0 + static_cast<std::size_t>(i);
          out.row_sq_error[t] = s;
          if (want_cross && weights_[t] != 1.0) b.row(i) *= static_cast<float>(weights_[t]);
        }
        if (want_cross) {
          m_blk.noalias() = y.transpose() * b;  // float within the block
          m_acc += m_blk.cast<double>();        // float64 across blocks
        }
      }
      if (want_cross) {
        std::lock_guard<std::mutex> const lock(reduce);
        chunks.emplace_back(b0, std::move(m_acc));
      }
    });
    if (!want_cross) return;
    // Sum in block order, so M does not depend on which thread finished first.
    std::sort(chunks.begin(), chunks.end(),
              [](auto const& x, auto const& y) { return x.first < y.first; });
    out.cross = std::move(chunks[0].second);
    for (std::size_t k = 1; k < chunks.size(); ++k) out.cross += chunks[k].second;
  }

 private:
  int n_threads_;
  std::size_t block_rows_;
  MatrixView<float const> rows_;
  std::vector<double> weights_;
  int bits_ = 4;
};

}  // namespace dfrot::rotation
