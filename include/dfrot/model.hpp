// SPDX-License-Identifier: Apache-2.0
/// \file
/// Module model: LLaMA-family configuration, FP32 weights, RoPE, KV cache, the forward pass, and
/// the hook / backend seams where transformations and quantizers plug in.
#pragma once

#include "dfrot/model/forward_hooks.hpp"
#include "dfrot/model/gguf_layer_source.hpp"
#include "dfrot/model/hf_layer_source.hpp"
#include "dfrot/model/kv_cache.hpp"
#include "dfrot/model/layer_source.hpp"
#include "dfrot/model/linear_layers.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "dfrot/model/model_config.hpp"
#include "dfrot/model/open_layer_source.hpp"
#include "dfrot/model/rope.hpp"
#include "dfrot/model/sequence_segments.hpp"
