// SPDX-License-Identifier: Apache-2.0
// Checked size arithmetic for every allocation whose size comes from input (files, flags): a
// product that wraps around would allocate a small buffer and then be written past.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <limits>
#include <string_view>

#include "dfrot/core/error.hpp"

namespace dfrot {

/// a·b. \throws ShapeError naming `what` when the product does not fit in size_t.
inline std::size_t checked_mul(std::size_t a, std::size_t b, std::string_view what) {
  std::size_t r = 0;
  DFROT_THROW_IF(__builtin_mul_overflow(a, b, &r), ShapeError, what, ": size ", a, " x ", b,
                 " overflows");
  return r;
}

/// a + b. \throws ShapeError naming `what` on overflow.
inline std::size_t checked_add(std::size_t a, std::size_t b, std::string_view what) {
  std::size_t r = 0;
  DFROT_THROW_IF(__builtin_add_overflow(a, b, &r), ShapeError, what, ": size ", a, " + ", b,
                 " overflows");
  return r;
}

/// The product of `factors`. \throws ShapeError naming `what` on overflow.
inline std::size_t checked_product(std::initializer_list<std::size_t> factors, std::string_view what) {
  std::size_t r = 1;
  for (std::size_t f : factors) r = checked_mul(r, f, what);
  return r;
}

/// Elements of a buffer of `n` elements of `element_bytes` each, checked against `max_bytes`.
/// \throws ShapeError naming `what` when n·element_bytes overflows or exceeds max_bytes.
inline std::size_t checked_elements(std::size_t n, std::size_t element_bytes, std::size_t max_bytes,
                                    std::string_view what) {
  std::size_t const bytes = checked_mul(n, element_bytes, what);
  DFROT_THROW_IF(bytes > max_bytes, ShapeError, what, ": ", bytes, " bytes exceed the limit of ",
                 max_bytes);
  return n;
}

}  // namespace dfrot
