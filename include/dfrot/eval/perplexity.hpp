// SPDX-License-Identifier: Apache-2.0
// perplexity: the papers' WikiText-2 protocol (ALGORITHMS.md §7.1) over non-overlapping windows.
#pragma once

#include <chrono>
#include <cmath>
#include <functional>
#include <span>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/model/llama_model.hpp"

namespace dfrot::eval {

struct PerplexityOptions {
  std::size_t ctx = 2048;  ///< window length (-c)
  long chunks = -1;        ///< windows to evaluate, -1 = all (--chunks)
  int n_threads = 0;       ///< <= 0: all cores
  std::size_t logits_rows = 256;  ///< rows of logits materialized at once (memory bound)
};

struct PerplexityProgress {
  std::size_t window = 0;        ///< windows done
  std::size_t n_windows = 0;
  double ppl = 0;                ///< running perplexity
  double tokens_per_second = 0;  ///< forward throughput so far
};

struct PerplexityResult {
  double ppl = 0;
  double mean_nll = 0;
  std::size_t n_predictions = 0;  ///< scored positions: windows · (ctx − 1)
  std::size_t n_windows = 0;
  std::size_t n_tokens = 0;       ///< tokens in the whole text
  double seconds = 0;
  std::vector<double> window_nll;  ///< mean NLL per window
};

/// The text is tokenized once by the caller (BOS only at the very start), cut into ⌊T/ctx⌋
/// windows (tail dropped); every window is run from an empty cache and positions 1 … ctx−1 are
/// scored given their prefix; PPL = exp(mean NLL over all scored positions).
/// \throws ShapeError when the text is shorter than one window or ctx exceeds the model's positions.
inline PerplexityResult perplexity(model::LlamaModel const& model, std::span<int const> tokens,
                                   PerplexityOptions const& opt,
                                   model::ForwardHooks* hooks = nullptr,
                                   std::function<void(PerplexityProgress const&)> const& progress = {}) {
  DFROT_THROW_IF(opt.ctx < 2, ShapeError, "perplexity: context ", opt.ctx, " is shorter than 2");
  DFROT_THROW_IF(opt.ctx > model.max_positions(), ShapeError, "perplexity: context ", opt.ctx,
                 " exceeds the model's ", model.max_positions(), " positions");
  std::size_t n_windows = tokens.size() / opt.ctx;
  DFROT_THROW_IF(n_windows == 0, ShapeError, "perplexity: the text has ", tokens.size(),
                 " tokens, fewer than one window of ", opt.ctx);
  if (opt.chunks >= 0) n_windows = std::min(n_windows, static_cast<std::size_t>(opt.chunks));
  PerplexityResult r;
  r.n_windows = n_windows;
  r.n_tokens = tokens.size();
  auto const start = std::chrono::steady_clock::now();
  double total_nll = 0;
  auto cache = model.make_cache();
  for (std::size_t w = 0; w < n_windows; ++w) {
    std::span<int const> const window = tokens.subspan(w * opt.ctx, opt.ctx);
    cache.clear();
    model::RowMatrixF const hidden =
        model.forward_hidden(window, cache, hooks, {.n_threads = opt.n_threads});
    double window_nll = 0;
    for (std::size_t r0 = 0; r0 + 1 < opt.ctx; r0 += opt.logits_rows) {
      std::size_t const rows = std::min(opt.logits_rows, opt.ctx - 1 - r0);
      model::RowMatrixF const logits = model.logits(
          MatrixView<float const>(hidden.data() + r0 * static_cast<std::size_t>(hidden.cols()), rows,
                                  static_cast<std::size_t>(hidden.cols())),
          opt.n_threads);
      for (std::size_t i = 0; i < rows; ++i) {
        auto const row = logits.row(static_cast<Eigen::Index>(i));
        double const mx = static_cast<double>(row.maxCoeff());
        double sum = 0;
        for (Eigen::Index v = 0; v < row.size(); ++v) sum += std::exp(double(row(v)) - mx);
        int const target = window[r0 + i + 1];
        double const nll = mx + std::log(sum) - double(row(target));
        DFROT_THROW_IF(!std::isfinite(nll), NumericError, "perplexity: non-finite NLL in window ",
                       w, " at position ", r0 + i + 1);
        window_nll += nll;
      }
    }
    total_nll += window_nll;
    r.window_nll.push_back(window_nll / double(opt.ctx - 1));
    if (progress) {
      double const s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::size_t const done = (w + 1) * (opt.ctx - 1);
      progress({w + 1, n_windows, std::exp(total_nll / double(done)),
                double((w + 1) * opt.ctx) / std::max(s, 1e-9)});
    }
  }
  r.n_predictions = n_windows * (opt.ctx - 1);
  r.mean_nll = total_nll / double(r.n_predictions);
  r.ppl = std::exp(r.mean_nll);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace dfrot::eval
