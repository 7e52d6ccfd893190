// SPDX-License-Identifier: Apache-2.0
/// \file
/// Module eval: perplexity by the papers' protocol, calibration windows.
#pragma once

#include "dfrot/eval/calibration.hpp"
#include "dfrot/eval/loglikelihood.hpp"
#include "dfrot/eval/perplexity.hpp"
#include "dfrot/eval/zeroshot.hpp"
#include "dfrot/eval/zeroshot_metrics.hpp"
#include "dfrot/eval/zeroshot_tasks.hpp"
