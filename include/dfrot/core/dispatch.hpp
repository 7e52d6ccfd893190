// SPDX-License-Identifier: Apache-2.0
// dispatch_isa: run the best implemented kernel level not above the active one, once per operation.
#pragma once

#include <utility>

#include "dfrot/core/isa.hpp"

namespace dfrot {

/// Set of ISA levels a kernel family implements (bit i = level i). kScalar must always be present.
struct IsaSet {
  unsigned bits;
  constexpr bool contains(Isa isa) const { return (bits >> static_cast<int>(isa)) & 1u; }
};

template <Isa... Levels>
inline constexpr IsaSet kIsaSet{((1u << static_cast<int>(Levels)) | ... | 1u)};

/// Calls `fn.template operator()<I>()` for the highest level I in `Implemented` with I <= `isa`.
/// The fallback chain is kAmx -> kAvx512Vnni -> kAvx512 -> kAvx2 -> kScalar.
template <IsaSet Implemented, class Fn>
decltype(auto) dispatch_isa(Isa isa, Fn&& fn) {
  static_assert(Implemented.contains(Isa::kScalar), "every kernel family needs a scalar level");
  if constexpr (Implemented.contains(Isa::kAmx) && kMaxCompiledIsa >= Isa::kAmx) {
    if (isa >= Isa::kAmx) return fn.template operator()<Isa::kAmx>();
  }
  if constexpr (Implemented.contains(Isa::kAvx512Vnni) && kMaxCompiledIsa >= Isa::kAvx512Vnni) {
    if (isa >= Isa::kAvx512Vnni) return fn.template operator()<Isa::kAvx512Vnni>();
  }
  if constexpr (Implemented.contains(Isa::kAvx512) && kMaxCompiledIsa >= Isa::kAvx512) {
    if (isa >= Isa::kAvx512) return fn.template operator()<Isa::kAvx512>();
  }
  if constexpr (Implemented.contains(Isa::kAvx2) && kMaxCompiledIsa >= Isa::kAvx2) {
    if (isa >= Isa::kAvx2) return fn.template operator()<Isa::kAvx2>();
  }
  return fn.template operator()<Isa::kScalar>();
}

/// The level `dispatch_isa<Implemented>` would pick for `isa`.
template <IsaSet Implemented>
constexpr Isa dispatched_isa(Isa isa) {
  for (int level = static_cast<int>(isa); level > 0; --level) {
    if (Implemented.contains(static_cast<Isa>(level)) && level <= static_cast<int>(kMaxCompiledIsa))
      return static_cast<Isa>(level);
  }
  return Isa::kScalar;
}

}  // namespace dfrot
