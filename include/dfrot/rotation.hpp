// SPDX-License-Identifier: Apache-2.0
/// \file
/// Module rotation: orthogonal matrices fused into the residual stream (identity, randomized
/// Hadamard, Haar random orthogonal) behind the RotationGenerator interface.
#pragma once

#include "dfrot/rotation/identity.hpp"
#include "dfrot/rotation/make_rotation.hpp"
#include "dfrot/rotation/random_hadamard.hpp"
#include "dfrot/rotation/random_orthogonal.hpp"
#include "dfrot/rotation/rotation.hpp"
