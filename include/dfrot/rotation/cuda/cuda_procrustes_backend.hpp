// SPDX-License-Identifier: Apache-2.0
// CudaProcrustesBackend: DFRot's alternating Procrustes (ALGORITHMS.md §4.5) on the GPU behind
// rotation::ProcrustesBackend — the calibration rows uploaded once, Y = A0·C and the weighted cross
// product with cuBLAS SGEMM in row blocks, the per-token 4-bit quantize/dequantize and squared
// errors in one kernel, the polar factor with cuSOLVER's float64 SVD (gesvd) and cuBLAS DGEMM.
// Precision as the CPU backend (EigenProcrustesBackend): float32 products within a block of
// `block_rows` rows, float64 across blocks and in every d × d step; the quantizer is the CPU
// kernel's arithmetic (x / scale, round half to even, clamp, scale·q: bit-identical codes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <cuda_runtime.h>

#include "dfrot/core/cuda/check.hpp"
#include "dfrot/core/cuda/device_buffer.hpp"
#include "dfrot/core/cuda/handles.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/quant/grid.hpp"
#include "dfrot/rotation/cuda/procrustes_kernels.hpp"
#include "dfrot/rotation/massive_tokens.hpp"
#include "dfrot/rotation/procrustes_backend.hpp"

namespace dfrot::rotation::cuda {

class CudaProcrustesBackend final : public ProcrustesBackend {
 public:
  explicit CudaProcrustesBackend(std::size_t block_rows = 2048) : block_rows_(block_rows > 0 ? block_rows : 1) {}

  std::string name() const override { return "cuda"; }

  void bind(MatrixView<float const> rows, std::span<double const> weights, int bits) override {
    rotation::detail::check_procrustes_binding(rows, weights, bits, "CudaProcrustesBackend");
    DFROT_THROW_IF(rows.cols() > 8192, ShapeError, "CudaProcrustesBackend: d=", rows.cols(),
                   " exceeds the supported 8192 (cuSOLVER gesvd workspace)");
    n_ = rows.rows();
    d_ = rows.cols();
    bits_ = bits;
    rows_ = dfrot::cuda::DeviceBuffer<float>(n_ * d_);
    DFROT_CUDA_CHECK(cudaMemcpy2D(rows_.data(), d_ * sizeof(float), rows.data(), rows.row_stride() * sizeof(float),
                                  d_ * sizeof(float), n_, cudaMemcpyHostToDevice));
    std::vector<float> w(weights.size());
    for (std::size_t t = 0; t < w.size(); ++t) w[t] = static_cast<float>(weights[t]);  // as the CPU backend
    weights_ = dfrot::cuda::DeviceBuffer<float>(std::span<float const>(w));
    std::size_t const blk = std::min(block_rows_, n_);
    y_ = dfrot::cuda::DeviceBuffer<float>(blk * d_);
    b_ = dfrot::cuda::DeviceBuffer<float>(blk * d_);
    c_ = dfrot::cuda::DeviceBuffer<float>(d_ * d_);
    m_block_ = dfrot::cuda::DeviceBuffer<float>(d_ * d_);
    m_ = dfrot::cuda::DeviceBuffer<double>(d_ * d_);
    row_err_ = dfrot::cuda::DeviceBuffer<double>(n_);
    bad_ = dfrot::cuda::DeviceBuffer<int>(1);
  }

  void evaluate(Eigen::MatrixXd const& c, bool want_cross, ProcrustesEvaluation& out) override {
    rotation::detail::check_procrustes_rotation(n_, d_, c, "CudaProcrustesBackend");
    using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    RowMatrixF const cf = c.cast<float>();
    c_.upload(std::span<float const>(cf.data(), d_ * d_));
    DFROT_CUDA_CHECK(cudaMemset(bad_.data(), 0, sizeof(int)));
    if (want_cross) DFROT_CUDA_CHECK(cudaMemset(m_.data(), 0, d_ * d_ * sizeof(double)));
    quant::Grid<float> const g = quant::make_grid<float>(bits_, quant::Symmetry::kSym);
    int const d = static_cast<int>(d_);
    float const one = 1.0f, zero = 0.0f;
    for (std::size_t r0 = 0; r0 < n_; r0 += block_rows_) {
      int const m = static_cast<int>(std::min(block_rows_, n_ - r0));
      // Row-major [m × d] is column-major [d × m]: Yᵀ = Cᵀ·A0ᵀ is the column-major C-view · A-view.
      DFROT_CUBLAS_CHECK(cublasSgemm(blas_.get(), CUBLAS_OP_N, CUBLAS_OP_N, d, m, d, &one, c_.data(), d,
                                     rows_.data() + r0 * d_, d, &zero, y_.data(), d));
      launch_quantize_rows(y_.data(), b_.data(), static_cast<std::size_t>(m), d_, weights_.data() + r0, want_cross,
                           g.maxq, g.qmin, g.qmax, row_err_.data() + r0, bad_.data());
      if (want_cross) {
        // M (row-major d × d) = Yᵀ·diag(w)·B; column-major that is Mᵀ = Bᵀ·Y = B-view · Y-viewᵀ.
        DFROT_CUBLAS_CHECK(cublasSgemm(blas_.get(), CUBLAS_OP_N, CUBLAS_OP_T, d, d, m, &one, b_.data(), d,
                                       y_.data(), d, &zero, m_block_.data(), d));
        launch_accumulate(m_.data(), m_block_.data(), d_ * d_);
      }
    }
    DFROT_CUDA_CHECK(cudaDeviceSynchronize());
    int bad = 0;
    DFROT_CUDA_CHECK(cudaMemcpy(&bad, bad_.data(), sizeof(int), cudaMemcpyDeviceToHost));
    DFROT_THROW_IF(bad != 0, NumericError, "CudaProcrustesBackend: the rotated rows contain NaN or Inf");
    out.row_sq_error = row_err_.download();
    out.cross.resize(0, 0);
    if (want_cross) {
      std::vector<double> const mh = m_.download();
      out.cross = Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> const>(
          mh.data(), static_cast<Eigen::Index>(d_), static_cast<Eigen::Index>(d_));
    }
  }

  /// P = U·Vᵀ of M by cuSOLVER's float64 gesvd and cuBLAS DGEMM.
  Eigen::MatrixXd polar(Eigen::MatrixXd const& m) override {
    DFROT_THROW_IF(m.rows() != m.cols() || m.rows() == 0, ShapeError,
                   "CudaProcrustesBackend::polar: expected a non-empty square matrix, got ", m.rows(), "x", m.cols());
    DFROT_THROW_IF(!m.allFinite(), NumericError, "CudaProcrustesBackend::polar: the cross product contains NaN or Inf");
    int const n = static_cast<int>(m.rows());
    std::size_t const nn = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
    dfrot::cuda::DeviceBuffer<double> a{std::span<double const>(m.data(), nn)};  // column-major, as Eigen
    dfrot::cuda::DeviceBuffer<double> s(static_cast<std::size_t>(n)), u(nn), vt(nn), p(nn);
    dfrot::cuda::DeviceBuffer<int> info(1);
    int lwork = 0;
    DFROT_CUSOLVER_CHECK(cusolverDnDgesvd_bufferSize(solver_.get(), n, n, &lwork));
    dfrot::cuda::DeviceBuffer<double> work(static_cast<std::size_t>(lwork));
    DFROT_CUSOLVER_CHECK(cusolverDnDgesvd(solver_.get(), 'A', 'A', n, n, a.data(), n, s.data(), u.data(), n,
                                          vt.data(), n, work.data(), lwork, nullptr, info.data()));
    int info_h = 0;
    DFROT_CUDA_CHECK(cudaMemcpy(&info_h, info.data(), sizeof(int), cudaMemcpyDeviceToHost));
    DFROT_THROW_IF(info_h != 0, NumericError, "CudaProcrustesBackend::polar: the ", n, "x", n,
                   " SVD did not converge (cuSOLVER info ", info_h, ")");
    double const one = 1.0, zero = 0.0;
    DFROT_CUBLAS_CHECK(cublasDgemm(blas_.get(), CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, u.data(), n, vt.data(), n,
                                   &zero, p.data(), n));
    std::vector<double> const ph = p.download();
    return Eigen::Map<Eigen::MatrixXd const>(ph.data(), n, n);
  }

 private:
  std::size_t block_rows_;
  std::size_t n_ = 0;
  std::size_t d_ = 0;
  int bits_ = 4;
  dfrot::cuda::CublasHandle blas_;
  dfrot::cuda::CusolverDnHandle solver_;
  dfrot::cuda::DeviceBuffer<float> rows_, weights_, y_, b_, c_, m_block_;
  dfrot::cuda::DeviceBuffer<double> m_, row_err_;
  dfrot::cuda::DeviceBuffer<int> bad_;
};

}  // namespace dfrot::rotation::cuda
