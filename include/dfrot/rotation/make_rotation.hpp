// SPDX-License-Identifier: Apache-2.0
// make_rotation_generator: the rotation kinds by command-line name.
#pragma once

#include <memory>
#include <string_view>

#include "dfrot/rotation/identity.hpp"
#include "dfrot/rotation/random_hadamard.hpp"
#include "dfrot/rotation/random_orthogonal.hpp"

namespace dfrot::rotation {

/// "none"/"identity", "hadamard" (randomized Hadamard, alias "rh") or "random" (Haar, alias "ro").
/// \throws UsageError for other names.
inline std::unique_ptr<RotationGenerator> make_rotation_generator(std::string_view kind,
                                                                  std::uint64_t seed) {
  if (kind == "none" || kind == "identity") return std::make_unique<IdentityRotation>();
  if (kind == "hadamard" || kind == "rh") return std::make_unique<RandomHadamardRotation>(seed);
  if (kind == "random" || kind == "ro") return std::make_unique<RandomOrthogonalRotation>(seed);
  throw UsageError(str_cat("rotation '", kind, "': expected none, hadamard (rh) or random (ro)"));
}

}  // namespace dfrot::rotation
