// SPDX-License-Identifier: Apache-2.0
// Tensor: a dense float32 tensor (shape + row-major data), the unit every loader produces.
#pragma once

#include <cstddef>
#include <vector>

namespace dfrot::io {

/// Dense float tensor, row-major (last index fastest). Linear weights are PyTorch-style
/// [out_features, in_features].
struct Tensor {
  std::vector<std::size_t> shape;
  std::vector<float> data;

  std::size_t numel() const noexcept {
    std::size_t n = 1;
    for (std::size_t d : shape) n *= d;
    return n;
  }
};

}  // namespace dfrot::io
