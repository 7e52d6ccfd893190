// SPDX-License-Identifier: Apache-2.0
// SignedHadamard: QuaRot's randomized Hadamard Q = diag(s)·T_dᵀ kept in factored form and applied
// to weight matrices by the float64 butterfly: W·Q and Qᵀ·W cost O(d log d) per row or column
// instead of the O(d²) of a dense GEMM (a LLaMA-2-70B layer, d = 8192: ~0.03 TFLOP instead of
// ~14 TFLOP of float64 products, which on a 2-core machine is minutes per layer against seconds).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/hadamard/hadamard_transform.hpp"

namespace dfrot::rotation {

class SignedHadamard {
 public:
  /// Q = diag(signs)·T_nᵀ, n = signs.size(). \throws ShapeError for a size without T_n (unless
  /// `fallback` allows the block-diagonal one) or signs other than ±1.
  explicit SignedHadamard(std::vector<double> signs, hadamard::Fallback fallback = hadamard::Fallback::kNone)
      : signs_(std::move(signs)), t_(signs_.size(), fallback) {
    for (double s : signs_)
      DFROT_THROW_IF(s != 1.0 && s != -1.0, ShapeError, "signed hadamard: sign ", s, " is not ±1");
  }

  std::size_t size() const noexcept { return signs_.size(); }
  hadamard::HadamardTransform const& transform() const noexcept { return t_; }
  std::vector<double> const& signs() const noexcept { return signs_; }

  /// Q as a dense n×n matrix: row i is s_i times row i of Tᵀ (from the same butterfly).
  Eigen::MatrixXd dense() const {
    std::size_t const d = size();
    std::vector<double> rows(d * d, 0.0);
    for (std::size_t i = 0; i < d; ++i) rows[i * d + i] = signs_[i];
    // apply_rows maps each row u to T·u: row i becomes s_i·(T e_i)ᵀ = s_i · (row i of Tᵀ).
    t_.apply_rows(MatrixView<double>(rows.data(), d, d));
    auto const n = static_cast<Eigen::Index>(d);
    return Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(rows.data(), n, n);
  }

  /// W ← W·Q = W·diag(s)·Tᵀ for W with n columns: each row w becomes T·(s ⊙ w), in float64.
  void right_multiply(MatrixView<float> w, int n_threads = 1) const {
    DFROT_THROW_IF(w.cols() != size(), ShapeError, "signed hadamard: W·Q with W of ", w.cols(),
                   " columns and Q of size ", size());
    std::size_t const d = size();
    parallel_for(w.rows(), n_threads, kBlock, [&](std::size_t begin, std::size_t end) {
      std::vector<double> buf(kBlock * d);
      for (std::size_t r0 = begin; r0 < end; r0 += kBlock) {
        std::size_t const n = std::min(kBlock, end - r0);
        for (std::size_t r = 0; r < n; ++r) {
          float const* src = w.row(r0 + r);
          for (std::size_t j = 0; j < d; ++j) buf[r * d + j] = signs_[j] * static_cast<double>(src[j]);
        }
        t_.apply_rows(MatrixView<double>(buf.data(), n, d));
        for (std::size_t r = 0; r < n; ++r) {
          float* dst = w.row(r0 + r);
          for (std::size_t j = 0; j < d; ++j) dst[j] = static_cast<float>(buf[r * d + j]);
        }
      }
    });
  }

  /// W ← Qᵀ·W = T·diag(s)·W for W with n rows: each column x becomes T·(s ⊙ x), in float64
  /// (column panels transposed into a buffer, so W is read and written once).
  void left_multiply_transposed(MatrixView<float> w, int n_threads = 1) const {
    DFROT_THROW_IF(w.rows() != size(), ShapeError, "signed hadamard: Qᵀ·W with W of ", w.rows(),
                   " rows and Q of size ", size());
    std::size_t const d = size();
    std::size_t const n_panels = (w.cols() + kBlock - 1) / kBlock;
    parallel_for(n_panels, n_threads, 1, [&](std::size_t begin, std::size_t end) {
      std::vector<double> buf(kBlock * d);
      for (std::size_t p = begin; p < end; ++p) {
        std::size_t const c0 = p * kBlock;
        std::size_t const n = std::min(kBlock, w.cols() - c0);
        for (std::size_t j = 0; j < d; ++j) {
          float const* src = w.row(j) + c0;
          for (std::size_t c = 0; c < n; ++c) buf[c * d + j] = signs_[j] * static_cast<double>(src[c]);
        }
        t_.apply_rows(MatrixView<double>(buf.data(), n, d));
        for (std::size_t j = 0; j < d; ++j) {
          float* dst = w.row(j) + c0;
          for (std::size_t c = 0; c < n; ++c) dst[c] = static_cast<float>(buf[c * d + j]);
        }
      }
    });
  }

 private:
  static constexpr std::size_t kBlock = 64;  ///< rows (or columns) per float64 buffer

  std::vector<double> signs_;
  hadamard::HadamardTransform t_;
};

}  // namespace dfrot::rotation
