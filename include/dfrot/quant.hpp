// SPDX-License-Identifier: Apache-2.0
/// \file
/// Module quant: the quantizers of ALGORITHMS.md §3 and §6.2. Configuration (quant_config.hpp),
/// integer grids with round-half-to-even (grid.hpp), the packed int4 layout (int4_pack.hpp) and
/// real-quantized tensors (quantized_tensor.hpp); weight RTN with the MSE clip search (rtn.hpp);
/// GPTQ with a streaming float64 Hessian (gptq.hpp); dynamic per-token activation quantization with
/// SIMD kernels dispatched AVX-512 → AVX2 → scalar, bit-identical across levels
/// (activation_quant.hpp); GQA-correct KV-cache quantization (kv_quant.hpp); the skew-based
/// sym/asym choice per layer (skew_select.hpp); named paper presets (presets.hpp). Float64 oracles
/// for tests live in reference.hpp.
#pragma once

#include "dfrot/quant/activation_quant.hpp"
#include "dfrot/quant/gptq.hpp"
#include "dfrot/quant/grid.hpp"
#include "dfrot/quant/int4_pack.hpp"
#include "dfrot/quant/kv_quant.hpp"
#include "dfrot/quant/presets.hpp"
#include "dfrot/quant/quant_config.hpp"
#include "dfrot/quant/quantized_tensor.hpp"
#include "dfrot/quant/reference.hpp"
#include "dfrot/quant/rtn.hpp"
#include "dfrot/quant/skew_select.hpp"
