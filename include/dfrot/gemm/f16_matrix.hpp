// SPDX-License-Identifier: Apache-2.0
// F16Matrix: a row-major matrix of IEEE binary16 values (embeddings and lm_head of the int4
// engine), owned or viewed in a mapped model file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "dfrot/core/dtype.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"

namespace dfrot::gemm {

class F16Matrix {
 public:
  F16Matrix() = default;

  /// Rounds a float matrix to F16 (nearest even). \throws NumericError when a value overflows.
  static F16Matrix from_float(MatrixView<float const> m, std::string_view name) {
    F16Matrix f;
    f.n_rows_ = m.rows();
    f.n_cols_ = m.cols();
    f.owned_.resize(m.rows() * m.cols());
    for (std::size_t r = 0; r < m.rows(); ++r) {
      for (std::size_t c = 0; c < m.cols(); ++c) {
        float const v = m(r, c);
        std::uint16_t const h = float_to_f16_bits(v);
        DFROT_THROW_IF((h & 0x7C00u) == 0x7C00u, NumericError, "F16 matrix '", name, "': value ",
                       v, " at (", r, ", ", c, ") is not finite in F16");
        f.owned_[r * m.cols() + c] = h;
      }
    }
    f.data_ = f.owned_.data();
    return f;
  }

  /// Views F16 bits kept alive by `keep_alive`. \throws FormatError on a length mismatch.
  static F16Matrix view(std::size_t rows, std::size_t cols, std::span<std::uint16_t const> bits,
                        std::shared_ptr<void const> keep_alive, std::string_view name) {
    DFROT_THROW_IF(bits.size() != rows * cols, FormatError, "F16 matrix '", name, "': ",
                   bits.size(), " values, expected ", rows, "x", cols);
    F16Matrix f;
    f.n_rows_ = rows;
    f.n_cols_ = cols;
    f.data_ = bits.data();
    f.keep_alive_ = std::move(keep_alive);
    return f;
  }

  F16Matrix(F16Matrix&& o) noexcept { *this = std::move(o); }
  F16Matrix& operator=(F16Matrix&& o) noexcept {
    bool const owned = o.data_ == o.owned_.data() && !o.owned_.empty();
    n_rows_ = o.n_rows_;
    n_cols_ = o.n_cols_;
    owned_ = std::move(o.owned_);
    keep_alive_ = std::move(o.keep_alive_);
    data_ = owned ? owned_.data() : o.data_;
    return *this;
  }
  F16Matrix(F16Matrix const&) = delete;
  F16Matrix& operator=(F16Matrix const&) = delete;

  std::size_t rows() const { return n_rows_; }
  std::size_t cols() const { return n_cols_; }
  bool empty() const { return n_rows_ == 0; }
  std::uint16_t const* data() const { return data_; }
  std::uint16_t const* row(std::size_t r) const { return data_ + r * n_cols_; }
  std::size_t bytes() const { return n_rows_ * n_cols_ * 2; }

  /// Widens row r into `out` (cols() floats).
  void row_to_float(std::size_t r, float* out) const {
    std::uint16_t const* p = row(r);
    for (std::size_t c = 0; c < n_cols_; ++c) out[c] = f16_bits_to_float(p[c]);
  }

 private:
  std::size_t n_rows_ = 0;
  std::size_t n_cols_ = 0;
  std::uint16_t const* data_ = nullptr;
  std::vector<std::uint16_t> owned_;
  std::shared_ptr<void const> keep_alive_;
};

}  // namespace dfrot::gemm
