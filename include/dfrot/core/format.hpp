// SPDX-License-Identifier: Apache-2.0
// str_cat: concatenate values into a message (GCC 12 has no <format>).
#pragma once

#include <sstream>
#include <string>
#include <utility>

namespace dfrot {

/// Concatenates every argument with operator<< into one string.
template <class... Parts>
std::string str_cat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}

}  // namespace dfrot
