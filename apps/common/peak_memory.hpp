// SPDX-License-Identifier: Apache-2.0
// The process's peak resident set, for the reports of long offline steps (quantize, bench).
#pragma once

#include <sys/resource.h>

#include <cstddef>

namespace dfrot::app {

/// Peak resident set size of this process so far, in bytes (getrusage; Linux counts KiB).
inline std::size_t peak_rss_bytes() {
  rusage u{};
  if (::getrusage(RUSAGE_SELF, &u) != 0) return 0;
  return static_cast<std::size_t>(u.ru_maxrss) * 1024;
}

}  // namespace dfrot::app
