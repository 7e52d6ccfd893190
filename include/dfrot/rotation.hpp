// SPDX-License-Identifier: Apache-2.0
/// \file
/// Module rotation: orthogonal matrices fused into the residual stream (identity, randomized
/// Hadamard, Haar random orthogonal) behind the RotationGenerator interface, and the learned ones:
/// DFRot's weighted alternating Procrustes on calibration rows (massive_tokens.hpp,
/// procrustes_backend.hpp, procrustes.hpp) and Cayley SGD on the orthogonal group
/// (cayley_sgd.hpp) with differentiable rotation losses (rotation_losses.hpp,
/// cayley_optimize.hpp).
#pragma once

#include "dfrot/rotation/cayley_optimize.hpp"
#include "dfrot/rotation/cayley_sgd.hpp"
#include "dfrot/rotation/identity.hpp"
#include "dfrot/rotation/make_rotation.hpp"
#include "dfrot/rotation/massive_tokens.hpp"
#include "dfrot/rotation/polar_factor.hpp"
#include "dfrot/rotation/procrustes.hpp"
#include "dfrot/rotation/procrustes_backend.hpp"
#include "dfrot/rotation/random_hadamard.hpp"
#include "dfrot/rotation/random_orthogonal.hpp"
#include "dfrot/rotation/rotation.hpp"
#include "dfrot/rotation/rotation_losses.hpp"
#include "dfrot/rotation/signed_hadamard.hpp"
