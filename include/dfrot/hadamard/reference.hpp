// SPDX-License-Identifier: Apache-2.0
// Dense float64 references for the Hadamard transforms: the test oracles (O(n²) per vector).
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include "dfrot/hadamard/special_matrices.hpp"

namespace dfrot::hadamard::reference {

/// Entry (i, j) of the Sylvester matrix H_n: (−1)^popcount(i & j).
inline int sylvester_entry(std::size_t i, std::size_t j) {
  return (std::popcount(i & j) & 1) ? -1 : 1;
}

/// Entry (i, j) of T_n = (H_K ⊗ H_m)/√n built from the definition (H_K = 1 when k == 1).
inline double transform_entry(std::size_t k, std::size_t m, std::size_t i, std::size_t j) {
  double const outer = k == 1 ? 1.0 : special_hadamard(k)[(i / m) * k + (j / m)];
  return outer * sylvester_entry(i % m, j % m) / std::sqrt(static_cast<double>(k * m));
}

/// y = T_n·x (or Tᵀ·x) by the dense product, for n = k·m.
inline std::vector<double> transform(std::size_t k, std::size_t m, std::span<double const> x,
                                     bool transpose = false) {
  std::size_t const n = k * m;
  std::vector<double> y(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    double acc = 0;
    for (std::size_t j = 0; j < n; ++j)
      acc += (transpose ? transform_entry(k, m, j, i) : transform_entry(k, m, i, j)) * x[j];
    y[i] = acc;
  }
  return y;
}

}  // namespace dfrot::hadamard::reference
