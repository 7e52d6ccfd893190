// SPDX-License-Identifier: Apache-2.0
/// \file
/// Umbrella header: every CPU module of dfrot (no CUDA headers).
#pragma once

#include "dfrot/core.hpp"
#include "dfrot/eval.hpp"
#include "dfrot/gemm.hpp"
#include "dfrot/hadamard.hpp"
#include "dfrot/io.hpp"
#include "dfrot/model.hpp"
#include "dfrot/pipeline.hpp"
#include "dfrot/quant.hpp"
#include "dfrot/rotation.hpp"
#include "dfrot/tokenizer.hpp"
#include "dfrot/version.hpp"
