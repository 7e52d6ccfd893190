// SPDX-License-Identifier: Apache-2.0
/// \file
/// Module core: errors, ISA detection and dispatch, views, buffers, threads, seeded RNG.
#pragma once

#include "dfrot/config.hpp"
#include "dfrot/core/aligned_buffer.hpp"
#include "dfrot/core/assert.hpp"
#include "dfrot/core/checked_size.hpp"
#include "dfrot/core/dispatch.hpp"
#include "dfrot/core/dtype.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/format.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/core/rng.hpp"
#include "dfrot/core/target.hpp"
