// SPDX-License-Identifier: Apache-2.0
/// \file
/// Module eval: perplexity by the papers' protocol.
#pragma once

#include "dfrot/eval/perplexity.hpp"
