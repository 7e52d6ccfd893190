// SPDX-License-Identifier: Apache-2.0
// Calibration windows: N seeded random windows of L tokens from a tokenized calibration text
// (ALGORITHMS.md §7.2; default text wiki.valid.tokens — never the test split that is reported).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/core/rng.hpp"

namespace dfrot::eval {

struct CalibrationOptions {
  std::size_t n_windows = 128;  ///< GPTQ's nsamples
  std::size_t window = 2048;    ///< tokens per window (model.seqlen)
  std::uint64_t seed = 0;
};

/// The calibration set: windows[i] is a contiguous run of `window` tokens, and starts[i] its
/// offset in the token stream.
struct CalibrationSet {
  std::vector<std::vector<int>> windows;
  std::vector<std::size_t> starts;
  std::size_t n_tokens() const {
    std::size_t n = 0;
    for (auto const& w : windows) n += w.size();
    return n;
  }
};

/// Draws each window start uniformly from [0, T − L − 1] (the reference's
/// `randint(0, T − L − 1)`, with dfrot's platform-independent generator instead of CPython's
/// Mersenne Twister: the same distribution, not the same indices).
/// \throws ShapeError when the text has fewer than L + 1 tokens or L or N is 0.
inline CalibrationSet sample_calibration(std::span<int const> tokens, CalibrationOptions const& o) {
  DFROT_THROW_IF(o.window == 0 || o.n_windows == 0, ShapeError,
                 "calibration: window length and window count must be positive (got ", o.window,
                 " and ", o.n_windows, ")");
  DFROT_THROW_IF(tokens.size() < o.window + 1, ShapeError, "calibration: the text has ",
                 tokens.size(), " tokens, too few for one window of ", o.window, " (+1)");
  Rng rng(o.seed);
  CalibrationSet set;
  std::uint64_t const n_starts = tokens.size() - o.window;  // starts 0 … T−L−1
  for (std::size_t i = 0; i < o.n_windows; ++i) {
    std::size_t const s = static_cast<std::size_t>(rng.uniform_int(n_starts));
    set.starts.push_back(s);
    set.windows.emplace_back(tokens.begin() + static_cast<std::ptrdiff_t>(s),
                             tokens.begin() + static_cast<std::ptrdiff_t>(s + o.window));
  }
  return set;
}

}  // namespace dfrot::eval
