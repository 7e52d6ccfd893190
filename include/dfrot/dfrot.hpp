// SPDX-License-Identifier: Apache-2.0
/// \file
/// Umbrella header: every CPU module of dfrot (no CUDA headers).
#pragma once

#include "dfrot/core.hpp"
#include "dfrot/hadamard.hpp"
#include "dfrot/rotation.hpp"
#include "dfrot/version.hpp"
