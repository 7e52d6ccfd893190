// SPDX-License-Identifier: Apache-2.0
// QuantizedLinears: the integer codes and scales of every decoder linear, as RTN or GPTQ produced
// them — what the int4 engine packs and the model file stores.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>
#include <vector>

#include "dfrot/model/llama_weights.hpp"
#include "dfrot/quant/quantized_tensor.hpp"

namespace dfrot::pipeline {

/// The decoder linears of a layer, in storage order.
enum class LinearId { kQ, kK, kV, kO, kGate, kUp, kDown };
inline constexpr std::size_t kLinearIds = 7;

/// GGUF tensor name stem of a linear (llama.cpp's names: blk.N.<stem>.weight).
constexpr std::string_view gguf_stem(LinearId id) {
  switch (id) {
    case LinearId::kQ: return "attn_q";
    case LinearId::kK: return "attn_k";
    case LinearId::kV: return "attn_v";
    case LinearId::kO: return "attn_output";
    case LinearId::kGate: return "ffn_gate";
    case LinearId::kUp: return "ffn_up";
    case LinearId::kDown: return "ffn_down";
  }
  return "";
}

/// [n_out, n_in] of a linear (PyTorch layout).
inline std::array<std::size_t, 2> linear_shape(model::ModelConfig const& c, LinearId id) {
  std::size_t const q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  switch (id) {
    case LinearId::kQ: return {q, c.hidden};
    case LinearId::kK:
    case LinearId::kV: return {kv, c.hidden};
    case LinearId::kO: return {c.hidden, q};
    case LinearId::kGate:
    case LinearId::kUp: return {c.intermediate, c.hidden};
    case LinearId::kDown: return {c.hidden, c.intermediate};
  }
  return {0, 0};
}

/// The FP32 matrix of a linear in LlamaWeights.
inline model::RowMatrix& weight_of(model::LayerWeights& l, LinearId id) {
  switch (id) {
    case LinearId::kQ: return l.wq;
    case LinearId::kK: return l.wk;
    case LinearId::kV: return l.wv;
    case LinearId::kO: return l.wo;
    case LinearId::kGate: return l.w_gate;
    case LinearId::kUp: return l.w_up;
    case LinearId::kDown: return l.w_down;
  }
  return l.wq;
}
inline model::RowMatrix const& weight_of(model::LayerWeights const& l, LinearId id) {
  return weight_of(const_cast<model::LayerWeights&>(l), id);
}

/// [n_layers][LinearId] real-quantized weights.
struct QuantizedLinears {
  std::vector<std::array<quant::QuantizedTensor, kLinearIds>> layers;

  quant::QuantizedTensor& at(std::size_t layer, LinearId id) {
    return layers[layer][static_cast<std::size_t>(id)];
  }
  quant::QuantizedTensor const& at(std::size_t layer, LinearId id) const {
    return layers[layer][static_cast<std::size_t>(id)];
  }
};

}  // namespace dfrot::pipeline
