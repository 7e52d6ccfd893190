// SPDX-License-Identifier: Apache-2.0
/// \file
/// Module gemm: the int4 engine's CPU GEMMs. Int4 weights in an ISA-independent panel layout
/// (packed_int4_weights.hpp), per-token int8 activation codes (quantized_activations.hpp), F16
/// matrices for the embeddings / lm_head (f16_matrix.hpp), and the dispatched operations
/// gemm_w4a4 (integer, bit-identical on every level: AVX-512 VNNI → AVX2 → scalar), gemm_w4a16 and
/// gemm_f16 (gemm.hpp).
#pragma once

#include "dfrot/gemm/f16_matrix.hpp"
#include "dfrot/gemm/gemm.hpp"
#include "dfrot/gemm/packed_int4_weights.hpp"
#include "dfrot/gemm/packed_int8_weights.hpp"
#include "dfrot/gemm/quantized_activations.hpp"
