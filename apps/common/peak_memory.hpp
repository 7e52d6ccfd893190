// SPDX-License-Identifier: Apache-2.0
// The process's peak resident set, for the reports of long offline steps (quantize, bench).
#pragma once

#include <sys/resource.h>

#include <cstddef>
#include <fstream>
#include <string>

namespace dfrot::app {

/// Peak resident set size of this process so far (since reset_peak_rss), in bytes: Linux's VmHWM,
/// else getrusage's ru_maxrss.
inline std::size_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmHWM:  123 kB"
  }
  rusage u{};
  if (::getrusage(RUSAGE_SELF, &u) != 0) return 0;
  return static_cast<std::size_t>(u.ru_maxrss) * 1024;
}

/// Starts the peak over from the current resident set (Linux ≥ 4.0; elsewhere a no-op), so a
/// scratch buffer of a measurement does not count as the model's memory.
inline void reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  if (clear) clear << "5";
}

}  // namespace dfrot::app
