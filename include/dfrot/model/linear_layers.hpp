// SPDX-License-Identifier: Apache-2.0
// LinearLayers: the seam where a GEMM engine (FP32 dense, packed int4, …) computes the linear
// layers and the embedding lookup of the one LLaMA forward pass.
#pragma once

#include <cstddef>
#include <span>

#include "dfrot/core/matrix_view.hpp"
#include "dfrot/model/forward_hooks.hpp"

namespace dfrot::model {

/// The linears that read one site, in the order of `LinearLayers::apply`'s outputs.
///   kAttention → {q, k, v};  kAttnOut → {o};  kMlp → {gate, up};  kDown → {down};  kLmHead → {logits}
inline constexpr std::size_t linear_count(LinearInput site) {
  switch (site) {
    case LinearInput::kAttention: return 3;
    case LinearInput::kMlp: return 2;
    default: return 1;
  }
}

/// A model's linear layers. The forward pass calls `apply` once per site with the site's input
/// after the hooks ran (online transforms applied), so an engine that quantizes its input does so
/// once for all linears of the site (q/k/v share one quantized copy, as do gate/up).
/// Implementations are used by one forward at a time (they may keep scratch buffers).
class LinearLayers {
 public:
  virtual ~LinearLayers() = default;
  /// outs[i] = x · W_iᵀ for the linears of `site` in `layer` (layer = n_layers for the lm_head);
  /// outs.size() == linear_count(site).
  virtual void apply(std::size_t layer, LinearInput site, MatrixView<float const> x,
                     std::span<MatrixView<float> const> outs, int n_threads) const = 0;
  /// The embedding row of token `id` (already validated) into `out` (hidden floats).
  virtual void embed(int id, std::span<float> out) const = 0;
};

}  // namespace dfrot::model
