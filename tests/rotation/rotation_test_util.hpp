// SPDX-License-Identifier: Apache-2.0
// Synthetic calibration rows for the rotation tests: RMS-normalized rows (‖x_t‖ = √d) with a few
// outlier channels, plus planted massive-activation tokens dominated by three huge channels.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/rng.hpp"

namespace dfrot::test {

/// An r×c matrix of i.i.d. N(0, 1) entries.
inline Eigen::MatrixXd gaussian(Eigen::Index r, Eigen::Index c, Rng& rng) {
  Eigen::MatrixXd m(r, c);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = rng.normal();
  return m;
}

struct SyntheticRows {
  std::size_t n = 0, d = 0;
  std::vector<float> data;           ///< [n × d] row-major
  std::vector<std::uint8_t> massive;  ///< planted massive tokens
  MatrixView<float const> view() const { return {data.data(), n, d}; }
};

/// Ordinary rows: N(0, 1) with the first `n_outlier_channels` channels at std 8 (outliers); every `massive_every`-th
/// row is massive: channels 1, 5, 9 at 1000, −600, 300 plus N(0, 1) noise. All normalized to √d.
inline SyntheticRows synthetic_rows(std::size_t n, std::size_t d, std::size_t massive_every,
                                    std::uint64_t seed, std::size_t n_outlier_channels = 8) {
  SyntheticRows s;
  s.n = n;
  s.d = d;
  s.data.resize(n * d);
  s.massive.assign(n, 0);
  Rng rng(seed);
  std::vector<double> row(d);
  for (std::size_t t = 0; t < n; ++t) {
    bool const massive = massive_every != 0 && t % massive_every == massive_every / 2;
    s.massive[t] = massive ? 1 : 0;
    double ss = 0;
    for (std::size_t j = 0; j < d; ++j) {
      double v = rng.normal();
      if (!massive && j < n_outlier_channels) v *= 8.0;
      row[j] = v;
    }
    if (massive) {
      row[1] += 1000.0;
      row[5 % d] -= 600.0;
      row[9 % d] += 300.0;
    }
    for (double v : row) ss += v * v;
    double const f = std::sqrt(static_cast<double>(d) / ss);
    for (std::size_t j = 0; j < d; ++j) s.data[t * d + j] = static_cast<float>(row[j] * f);
  }
  return s;
}

}  // namespace dfrot::test
