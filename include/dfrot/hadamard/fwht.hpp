// SPDX-License-Identifier: Apache-2.0
// fwht / fwht_rows: in-place fast Walsh-Hadamard transform (Sylvester order) of power-of-two length.
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <span>

#include "dfrot/core/dispatch.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/hadamard/cpu/kernels.hpp"

namespace dfrot::hadamard {

/// kNone computes H·x (entries ±1); kOrthonormal computes H·x/√n.
enum class Normalize { kNone, kOrthonormal };

/// Element types the transforms support.
template <class T>
concept HadamardElement = std::same_as<T, float> || std::same_as<T, double>;

namespace detail {
inline void check_power_of_two(std::size_t n, char const* where) {
  DFROT_THROW_IF(n == 0 || !std::has_single_bit(n), ShapeError, where, ": length ", n,
                 " is not a power of two (use HadamardTransform for n = K·2^m)");
}
}  // namespace detail

/// In-place H_n·x on every row of `rows` (Sylvester order; H symmetric, so also Hᵀ·x), optionally
/// scaled by 1/√n. Dispatches once to the best CPU level; rows are split over `n_threads`.
/// \throws ShapeError when the row length is not a power of two.
template <HadamardElement T>
void fwht_rows(MatrixView<T> rows, Normalize normalize = Normalize::kNone, int n_threads = 1) {
  std::size_t const n = rows.cols();
  detail::check_power_of_two(n, "fwht_rows");
  T const scale = normalize == Normalize::kOrthonormal
                      ? static_cast<T>(1.0 / std::sqrt(static_cast<double>(n)))
                      : T(1);
  dispatch_isa<cpu::kHadamardIsas>(active_isa(), [&]<Isa I>() {
    parallel_for(rows.rows(), n_threads, 16, [&](std::size_t begin, std::size_t end) {
      cpu::Kernels<I, T>::rows(rows.row(begin), end - begin, n, rows.row_stride(), scale);
    });
  });
}

/// In-place H_n·x of one vector.
template <HadamardElement T>
void fwht(std::span<T> x, Normalize normalize = Normalize::kNone) {
  fwht_rows(MatrixView<T>(x), normalize, 1);
}

}  // namespace dfrot::hadamard
