// SPDX-License-Identifier: Apache-2.0
// Wall-clock seconds for progress lines and timing columns.
#pragma once

#include <chrono>

namespace dfrot::app {

/// Seconds elapsed on the steady clock since `t0`.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace dfrot::app
