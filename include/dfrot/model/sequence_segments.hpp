// SPDX-License-Identifier: Apache-2.0
// SequenceSegment: several sequences in one forward call. The new rows of a call are cut into
// consecutive segments; each is the continuation of a prefix already in the cache (its own rows
// of an earlier call), so requests that share a context prefill it once and all their
// continuations then run together in one batch (lm-eval's loglikelihood requests).
#pragma once

#include <cstddef>
#include <span>

#include "dfrot/core/error.hpp"

namespace dfrot::model {

/// `rows` consecutive new rows that continue the sequence whose first positions are cache rows
/// [prefix_begin, prefix_end): row i of the segment has position (prefix_end − prefix_begin) + i
/// and attends to that prefix and causally to the segment's own rows — never to other segments.
struct SequenceSegment {
  std::size_t rows = 0;
  std::size_t prefix_begin = 0;
  std::size_t prefix_end = 0;
  std::size_t prefix_length() const { return prefix_end - prefix_begin; }
};

/// Checks that `segments` cover exactly `n_rows` new rows, that every prefix lies in the cache's
/// `cached` committed rows and that no position reaches `max_positions`.
/// \throws ShapeError naming the segment otherwise.
inline void check_segments(std::span<SequenceSegment const> segments, std::size_t n_rows,
                           std::size_t cached, std::size_t max_positions) {
  std::size_t rows = 0;
  for (std::size_t s = 0; s < segments.size(); ++s) {
    SequenceSegment const& g = segments[s];
    DFROT_THROW_IF(g.prefix_begin > g.prefix_end || g.prefix_end > cached, ShapeError,
                   "forward: segment ", s, " has prefix rows [", g.prefix_begin, ", ", g.prefix_end,
                   ") outside the ", cached, " cached rows");
    DFROT_THROW_IF(g.rows > max_positions || g.prefix_length() > max_positions - g.rows, ShapeError,
                   "forward: segment ", s, " reaches position ", g.prefix_length() + g.rows,
                   ", beyond the model's ", max_positions);
    rows += g.rows;
  }
  DFROT_THROW_IF(rows != n_rows, ShapeError, "forward: segments cover ", rows, " rows of ", n_rows);
}

}  // namespace dfrot::model
