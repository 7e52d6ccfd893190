// SPDX-License-Identifier: Apache-2.0
/// \file
/// Module pipeline: model transformations of QuaRot / DFRot (norm fusion, residual rotation R1,
/// head-wise V/O rotation, down_proj and o_proj Hadamards) and their online halves as hooks;
/// RMSNorm-output capture (DFRot calibration rows) and their outlier statistics; the quantized
/// model (schemes, fake-quant hooks, true-sequential GPTQ, skew-selected quantizers, model file).
#pragma once

#include "dfrot/pipeline/activation_capture.hpp"
#include "dfrot/pipeline/activation_stats.hpp"
#include "dfrot/pipeline/calibration_activations.hpp"
#include "dfrot/pipeline/calibration_checkpoint.hpp"
#include "dfrot/pipeline/fuse_norms.hpp"
#include "dfrot/pipeline/gptq_model.hpp"
#include "dfrot/pipeline/int4_engine.hpp"
#include "dfrot/pipeline/massive_token_keeping.hpp"
#include "dfrot/pipeline/model_file.hpp"
#include "dfrot/pipeline/online_transforms.hpp"
#include "dfrot/pipeline/quant_scheme.hpp"
#include "dfrot/pipeline/quantized_linears.hpp"
#include "dfrot/pipeline/quantization_hooks.hpp"
#include "dfrot/pipeline/quantized_model.hpp"
#include "dfrot/pipeline/quantizer_plan.hpp"
#include "dfrot/pipeline/rotate_model.hpp"
#include "dfrot/pipeline/skew_plan.hpp"
#include "dfrot/pipeline/streamed_quantize.hpp"
