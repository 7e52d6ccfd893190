// SPDX-License-Identifier: Apache-2.0
// MatrixView: a non-owning, row-major, row-strided view of a 2-D array.
#pragma once

#include <cstddef>
#include <span>
#include <type_traits>

#include "dfrot/core/error.hpp"

namespace dfrot {

/// Row-major view: element (r, c) lives at data[r * row_stride + c]. `Element` may be const.
template <class Element>
class MatrixView {
 public:
  using element_type = Element;
  using value_type = std::remove_cv_t<Element>;

  constexpr MatrixView() = default;
  constexpr MatrixView(Element* data, std::size_t n_rows, std::size_t n_cols)
      : MatrixView(data, n_rows, n_cols, n_cols) {}
  constexpr MatrixView(Element* data, std::size_t n_rows, std::size_t n_cols,
                       std::size_t row_stride)
      : data_(data), n_rows_(n_rows), n_cols_(n_cols), row_stride_(row_stride) {
    DFROT_THROW_IF(row_stride < n_cols, ShapeError, "MatrixView: row stride ", row_stride,
                   " is smaller than the column count ", n_cols);
  }
  /// A single vector as a 1-row matrix.
  constexpr explicit MatrixView(std::span<Element> row)
      : MatrixView(row.data(), 1, row.size(), row.size()) {}

  /// Views of non-const elements convert to views of const ones.
  template <class Other>
    requires(std::is_same_v<Element, Other const>)
  constexpr MatrixView(MatrixView<Other> other)  // NOLINT(google-explicit-constructor)
      : data_(other.data()), n_rows_(other.rows()), n_cols_(other.cols()),
        row_stride_(other.row_stride()) {}

  constexpr Element* data() const { return data_; }
  constexpr std::size_t rows() const { return n_rows_; }
  constexpr std::size_t cols() const { return n_cols_; }
  constexpr std::size_t row_stride() const { return row_stride_; }
  constexpr Element* row(std::size_t r) const { return data_ + r * row_stride_; }
  constexpr Element& operator()(std::size_t r, std::size_t c) const {
    return data_[r * row_stride_ + c];
  }
  constexpr bool is_contiguous() const { return row_stride_ == n_cols_ || n_rows_ <= 1; }

 private:
  Element* data_ = nullptr;
  std::size_t n_rows_ = 0;
  std::size_t n_cols_ = 0;
  std::size_t row_stride_ = 0;
};

}  // namespace dfrot
