// SPDX-License-Identifier: Apache-2.0
// Internal invariants: DFROT_ASSERT (always on) and DFROT_DASSERT (debug and sanitizer builds).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace dfrot::detail {

[[noreturn]] inline void assert_fail(char const* expr, char const* file, int line) {
  std::fprintf(stderr, "dfrot: internal assertion failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace dfrot::detail

#define DFROT_ASSERT(cond) \
  ((cond) ? static_cast<void>(0) : ::dfrot::detail::assert_fail(#cond, __FILE__, __LINE__))

#if !defined(NDEBUG) || defined(__SANITIZE_ADDRESS__)
#define DFROT_DASSERT(cond) DFROT_ASSERT(cond)
#else
#define DFROT_DASSERT(cond) static_cast<void>(0)
#endif
