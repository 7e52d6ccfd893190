// SPDX-License-Identifier: Apache-2.0
// parallel_for: split [0, n) into contiguous chunks over OpenMP threads.
#pragma once

#include <algorithm>
#include <cstddef>

#include <omp.h>

namespace dfrot {

/// Number of threads `n_threads <= 0` stands for (all cores OpenMP sees).
inline int resolve_threads(int n_threads) {
  return n_threads > 0 ? n_threads : std::max(1, omp_get_max_threads());
}

/// Calls body(begin, end) on disjoint chunks covering [0, n). Runs inline when one thread suffices.
/// `min_chunk` keeps small jobs on one thread.
template <class Body>
void parallel_for(std::size_t n, int n_threads, std::size_t min_chunk, Body&& body) {
  int const threads = static_cast<int>(std::min<std::size_t>(
      static_cast<std::size_t>(resolve_threads(n_threads)),
      std::max<std::size_t>(1, n / std::max<std::size_t>(1, min_chunk))));
  if (threads <= 1 || omp_in_parallel()) {
    if (n != 0) body(std::size_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    std::size_t const t = static_cast<std::size_t>(omp_get_thread_num());
    std::size_t const nt = static_cast<std::size_t>(omp_get_num_threads());
    std::size_t const begin = n * t / nt;
    std::size_t const end = n * (t + 1) / nt;
    if (begin < end) body(begin, end);
  }
}

}  // namespace dfrot
