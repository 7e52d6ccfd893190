// SPDX-License-Identifier: Apache-2.0
// OnlineTransforms: the run-time halves of QuaRot's rotations, applied through ForwardHooks:
// T_{d_ff} on the down_proj input (R4), T_d on the o_proj input, H_{d_h} on queries and keys after
// RoPE (R3). Each cancels an offline fusion, so together they leave the FP model unchanged.
#pragma once

#include <memory>
#include <optional>

#include "dfrot/hadamard/hadamard_transform.hpp"
#include "dfrot/model/forward_hooks.hpp"
#include "dfrot/model/model_config.hpp"

namespace dfrot::pipeline {

struct OnlineTransformOptions {
  bool down_proj = true;   ///< R4: x ← T_{d_ff}·x before down_proj (pairs with W_down·Tᵀ)
  bool o_proj = false;     ///< x ← T_d·x before o_proj (pairs with W_o·T_dᵀ)
  bool qk = true;          ///< R3: q, k ← H_{d_h}/√d_h per head after RoPE (q·kᵀ unchanged)
  int n_threads = 1;
};

class OnlineTransforms : public model::ForwardHooks {
 public:
  OnlineTransforms(model::ModelConfig const& c, OnlineTransformOptions const& o) : opt_(o) {
    if (o.down_proj) down_.emplace(c.intermediate);
    if (o.o_proj) o_proj_.emplace(c.hidden);
    if (o.qk) head_.emplace(c.head_dim);
  }

  void linear_input(std::size_t, model::LinearInput site, MatrixView<float> x) override {
    if (site == model::LinearInput::kDown && down_) down_->apply_rows(x, hadamard::Transpose::kNo, opt_.n_threads);
    if (site == model::LinearInput::kAttnOut && o_proj_)
      o_proj_->apply_rows(x, hadamard::Transpose::kNo, opt_.n_threads);
  }
  void query(std::size_t, MatrixView<float> q) override { per_head(q); }
  void key(std::size_t, MatrixView<float> k) override { per_head(k); }

 private:
  void per_head(MatrixView<float> x) const {
    if (!head_) return;
    std::size_t const dh = head_->size();
    // Each head's slice of a row is a row of a [tokens·heads, d_h] view with the same memory.
    MatrixView<float> heads(x.data(), x.rows() * (x.cols() / dh), dh);
    if (x.is_contiguous()) {
      head_->apply_rows(heads, hadamard::Transpose::kNo, opt_.n_threads);
    } else {
      for (std::size_t t = 0; t < x.rows(); ++t)
        head_->apply_rows(MatrixView<float>(x.row(t), x.cols() / dh, dh));
    }
  }

  OnlineTransformOptions opt_;
  std::optional<hadamard::HadamardTransform> down_, o_proj_, head_;
};

}  // namespace dfrot::pipeline
