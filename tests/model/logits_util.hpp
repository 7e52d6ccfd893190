// SPDX-License-Identifier: Apache-2.0
// Logits of a whole token sequence and the two error measures the model and pipeline tests use.
#pragma once

#include <vector>

#include "dfrot/model/llama_model.hpp"

namespace dfrot::test {

/// FP32 forward of `tokens` from an empty cache (context 64, 2 threads), optionally with hooks.
inline model::RowMatrixF forward_logits(model::LlamaWeights const& w, std::vector<int> const& tokens,
                                        model::ForwardHooks* hooks = nullptr) {
  model::LlamaModel const m(w, 64);
  auto cache = m.make_cache();
  return m.forward(tokens, cache, hooks, {.n_threads = 2});
}

/// ‖a − b‖_F / ‖b‖_F.
inline double relative_frobenius_error(model::RowMatrixF const& a, model::RowMatrixF const& b) {
  return static_cast<double>((a - b).norm() / b.norm());
}

/// max|a − b| / max|b|.
inline double relative_max_error(model::RowMatrixF const& a, model::RowMatrixF const& b) {
  return static_cast<double>((a - b).cwiseAbs().maxCoeff() / b.cwiseAbs().maxCoeff());
}

}  // namespace dfrot::test
