// SPDX-License-Identifier: Apache-2.0
/// \file
/// Module pipeline: model transformations of QuaRot / DFRot (norm fusion, residual rotation R1,
/// head-wise V/O rotation, down_proj and o_proj Hadamards) and their online halves as hooks.
#pragma once

#include "dfrot/pipeline/fuse_norms.hpp"
#include "dfrot/pipeline/online_transforms.hpp"
#include "dfrot/pipeline/rotate_model.hpp"
