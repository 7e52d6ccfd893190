// SPDX-License-Identifier: Apache-2.0
// Log-likelihood requests as lm-eval 0.4 scores them (HFLM._encode_pair and
// _loglikelihood_tokens): log P(continuation | context) summed over the continuation's tokens, and
// whether greedy decoding would have produced exactly those tokens. Requests that share a context
// prefill it once; the continuations of a batch then run together as sequence segments.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/model/sequence_segments.hpp"
#include "dfrot/tokenizer/tokenizer.hpp"

namespace dfrot::eval {

/// Token ids of one request: the continuation's tokens are the ones scored.
struct TokenRequest {
  std::vector<int> context;
  std::vector<int> continuation;
};

/// Bytes of `s` before its trailing whitespace as Python's str.rstrip() sees it (the ASCII
/// whitespace and separator controls, and the Unicode White_Space code points in UTF-8).
inline std::size_t python_rstrip_length(std::string_view s) {
  static constexpr std::string_view kMultiByte[] = {
      "\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf",
      "\xe2\x81\x9f", "\xe3\x80\x80"};
  std::size_t n = s.size();
  while (n > 0) {
    auto const c = static_cast<unsigned char>(s[n - 1]);
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) {
      --n;
      continue;
    }
    std::string_view const head = s.substr(0, n);
    bool matched = false;
    for (std::string_view w : kMultiByte) matched = matched || head.ends_with(w);
    // U+2000 … U+200A: E2 80 80 … E2 80 8A.
    if (!matched && n >= 3 && head.substr(n - 3, 2) == "\xe2\x80" &&
        static_cast<unsigned char>(head[n - 1]) >= 0x80 && static_cast<unsigned char>(head[n - 1]) <= 0x8a) {
      n -= 3;
      continue;
    }
    if (!matched) break;
    n -= head.ends_with("\xc2\x85") || head.ends_with("\xc2\xa0") ? 2 : 3;
  }
  return n;
}

/// lm-eval's _encode_pair: trailing whitespace of the context moves to the continuation, then
/// continuation = tokens(context + continuation) minus the first |tokens(context)| of them, so a
/// BPE merge across the boundary is scored as the whole text tokenizes. No BOS (lm-eval's default
/// for causal models; `add_bos` adds the vocabulary's BOS before the context). An empty context
/// becomes [prefix_token] (lm-eval: the EOT token) — here also an all-whitespace one, where
/// lm-eval would score from an empty context.
/// \throws UsageError when the continuation is empty or tokenizes to nothing.
inline TokenRequest encode_request(tokenizer::Tokenizer const& tok, std::string_view context,
                                   std::string_view continuation, int prefix_token, bool add_bos = false) {
  std::size_t const cut = python_rstrip_length(context);
  std::string moved(context.substr(cut));
  moved += continuation;
  context = context.substr(0, cut);
  TokenRequest r;
  if (context.empty()) {
    r.context = {prefix_token};
    r.continuation = tok.encode(moved, false);
  } else {
    std::string whole(context);
    whole += moved;
    std::vector<int> const all = tok.encode(whole, add_bos);
    r.context = tok.encode(context, add_bos);
    // A merge across the boundary can make the whole shorter than the context alone.
    r.continuation.assign(all.begin() + static_cast<std::ptrdiff_t>(std::min(r.context.size(), all.size())),
                          all.end());
  }
  DFROT_THROW_IF(r.continuation.empty(), UsageError, "loglikelihood: continuation '", continuation,
                 "' after context of ", context.size(), " bytes has no tokens of its own");
  return r;
}

/// log P(continuation | context) and lm-eval's is_greedy.
struct Loglikelihood {
  double logprob = 0;
  bool greedy = true;
  std::size_t tokens = 0;  ///< continuation tokens scored
};

struct LoglikelihoodOptions {
  std::size_t max_length = 2048;    ///< lm-eval max_length: longer inputs lose their oldest tokens
  std::size_t batch_rows = 1024;    ///< forward rows per batch (contexts, then continuations)
  std::size_t logits_rows = 256;    ///< rows of logits materialized at once
  int n_threads = 0;                ///< <= 0: all cores
};

struct LoglikelihoodProgress {
  std::size_t done = 0;     ///< requests scored
  std::size_t total = 0;
  std::size_t rows = 0;     ///< forward rows so far
  double seconds = 0;
};

/// Truncates a request to lm-eval's window: (context + continuation)[-(max_length+1):], so the
/// model sees at most max_length tokens; the oldest context tokens go first.
/// \throws ShapeError when the continuation alone exceeds the window.
inline void truncate_request(TokenRequest& r, std::size_t max_length) {
  DFROT_THROW_IF(r.continuation.size() > max_length, ShapeError, "loglikelihood: a continuation of ",
                 r.continuation.size(), " tokens exceeds max_length ", max_length);
  std::size_t const total = r.context.size() + r.continuation.size();
  if (total > max_length + 1) {
    r.context.erase(r.context.begin(),
                    r.context.begin() + static_cast<std::ptrdiff_t>(total - (max_length + 1)));
  }
}

namespace detail {

/// Adds the log-probability of `target` under logits `row` to `out` (log-softmax: max-shifted
/// exponentials summed in float, the log in double) and clears `greedy` unless `target` is the
/// first maximum. Returns false for a non-finite log-probability (it runs inside parallel_for,
/// where nothing may throw).
inline bool score_row(Eigen::Ref<model::RowMatrixF const> const& logits, Eigen::Index row, int target,
                      Loglikelihood& out) {
  auto const r = logits.row(row);
  Eigen::Index arg = 0;
  float const mx = r.maxCoeff(&arg);  // Eigen returns the first maximum
  double const sum = static_cast<double>((r.array() - mx).exp().sum());
  double const lp = double(r(target)) - double(mx) - std::log(sum);
  out.logprob += lp;
  if (arg != target) out.greedy = false;
  ++out.tokens;
  return std::isfinite(lp);
}

}  // namespace detail

/// Scores `requests` (truncated to opt.max_length) in order, consecutive requests with the same
/// context sharing one prefill. Works for any engine behind `model` (hooks: fake quantizers).
/// \throws ShapeError for a token outside the vocabulary or a request longer than the model.
inline std::vector<Loglikelihood> score_requests(
    model::LlamaModel const& model, std::span<TokenRequest const> requests,
    LoglikelihoodOptions const& opt, model::ForwardHooks* hooks = nullptr,
    std::function<void(LoglikelihoodProgress const&)> const& progress = {}) {
  std::size_t const max_length = std::min(opt.max_length, model.max_positions());
  DFROT_THROW_IF(max_length < 1, ShapeError, "loglikelihood: max_length is 0");
  std::size_t const vocab = model.config().vocab;
  std::vector<TokenRequest> reqs(requests.begin(), requests.end());
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    DFROT_THROW_IF(reqs[i].context.empty() || reqs[i].continuation.empty(), ShapeError,
                   "loglikelihood: request ", i, " has an empty context or continuation");
    for (int id : reqs[i].continuation) {
      DFROT_THROW_IF(id < 0 || static_cast<std::size_t>(id) >= vocab, ShapeError,
                     "loglikelihood: request ", i, ": token id ", id,
                     " is outside the vocabulary of ", vocab);
    }
    truncate_request(reqs[i], max_length);
  }
  // Groups of consecutive requests with one context: [group_start[g], group_start[g + 1]).
  std::vector<std::size_t> group_start;
  for (std::size_t i = 0; i < reqs.size(); ++i)
    if (i == 0 || reqs[i].context != reqs[i - 1].context) group_start.push_back(i);
  group_start.push_back(reqs.size());
  auto group_rows = [&](std::size_t g) {
    std::size_t rows = reqs[group_start[g]].context.size();
    for (std::size_t i = group_start[g]; i < group_start[g + 1]; ++i) rows += reqs[i].continuation.size() - 1;
    return rows;
  };
  std::size_t capacity = std::max<std::size_t>(opt.batch_rows, 1);
  for (std::size_t g = 0; g + 1 < group_start.size(); ++g) capacity = std::max(capacity, group_rows(g));
  model::KvCache cache = model.make_cache(capacity);
  model::ForwardOptions fopt{.n_threads = opt.n_threads};
  std::vector<Loglikelihood> out(reqs.size());
  auto const start = std::chrono::steady_clock::now();
  LoglikelihoodProgress p{.total = reqs.size()};
  std::size_t const n_groups = group_start.size() - 1;
  for (std::size_t g0 = 0; g0 < n_groups;) {
    // A batch: whole groups while their rows fit (at least one group).
    std::size_t g1 = g0, rows = 0;
    while (g1 < n_groups && (g1 == g0 || rows + group_rows(g1) <= capacity)) rows += group_rows(g1++);
    cache.clear();
    // 1. The contexts, one segment each; the logits of their last rows predict the first
    //    continuation token.
    std::vector<int> ids;
    std::vector<model::SequenceSegment> segs;
    std::vector<std::size_t> ctx_begin;
    for (std::size_t g = g0; g < g1; ++g) {
      auto const& c = reqs[group_start[g]].context;
      ctx_begin.push_back(ids.size());
      segs.push_back({c.size(), 0, 0});
      ids.insert(ids.end(), c.begin(), c.end());
    }
    ctx_begin.push_back(ids.size());
    fopt.segments = segs;
    model::RowMatrixF const ctx_hidden = model.forward_hidden(ids, cache, hooks, fopt);
    model::RowMatrixF last(static_cast<Eigen::Index>(g1 - g0), ctx_hidden.cols());
    for (std::size_t g = g0; g < g1; ++g)
      last.row(static_cast<Eigen::Index>(g - g0)) = ctx_hidden.row(static_cast<Eigen::Index>(ctx_begin[g - g0 + 1] - 1));
    model::RowMatrixF const last_logits = model.logits(last, opt.n_threads);
    p.rows += ids.size();
    // 2. Every continuation but its last token, after its context.
    ids.clear();
    segs.clear();
    std::vector<std::size_t> cont_row(group_start[g1] - group_start[g0] + 1, 0);
    for (std::size_t g = g0; g < g1; ++g) {
      for (std::size_t i = group_start[g]; i < group_start[g + 1]; ++i) {
        auto const& c = reqs[i].continuation;
        cont_row[i - group_start[g0]] = ids.size();
        if (c.size() > 1) {
          segs.push_back({c.size() - 1, ctx_begin[g - g0], ctx_begin[g - g0 + 1]});
          ids.insert(ids.end(), c.begin(), c.end() - 1);
        }
      }
    }
    cont_row.back() = ids.size();
    model::RowMatrixF cont_hidden;
    if (!ids.empty()) {
      fopt.segments = segs;
      cont_hidden = model.forward_hidden(ids, cache, hooks, fopt);
      p.rows += ids.size();
    }
    // 3. Log-probabilities: the context's last row, then the continuation rows in chunks.
    bool finite = true;
    for (std::size_t g = g0; g < g1; ++g) {
      for (std::size_t i = group_start[g]; i < group_start[g + 1]; ++i)
        finite &= detail::score_row(last_logits, static_cast<Eigen::Index>(g - g0), reqs[i].continuation[0], out[i]);
    }
    std::size_t const n_rows = ids.size();
    for (std::size_t r0 = 0; r0 < n_rows; r0 += opt.logits_rows) {
      std::size_t const n = std::min(opt.logits_rows, n_rows - r0);
      model::RowMatrixF const logits = model.logits(
          MatrixView<float const>(cont_hidden.data() + r0 * static_cast<std::size_t>(cont_hidden.cols()), n,
                                  static_cast<std::size_t>(cont_hidden.cols())),
          opt.n_threads);
      // Row r (of the batch) predicts continuation token k + 1 of the request whose rows hold it.
      std::vector<char> ok(group_start[g1] - group_start[g0], 1);
      parallel_for(ok.size(), opt.n_threads, 1, [&](std::size_t b, std::size_t e) {
        for (std::size_t j = b; j < e; ++j) {
          std::size_t const i = group_start[g0] + j;
          std::size_t const lo = std::max(cont_row[j], r0), hi = std::min(cont_row[j + 1], r0 + n);
          for (std::size_t r = lo; r < hi; ++r) {
            ok[j] &= static_cast<char>(detail::score_row(logits, static_cast<Eigen::Index>(r - r0),
                                                         reqs[i].continuation[r - cont_row[j] + 1], out[i]));
          }
        }
      });
      finite &= std::all_of(ok.begin(), ok.end(), [](char c) { return c != 0; });
    }
    DFROT_THROW_IF(!finite, NumericError, "loglikelihood: non-finite log-probability in the batch of "
                   "requests ", group_start[g0], "..", group_start[g1] - 1);
    p.done = group_start[g1];
    p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (progress) progress(p);
    g0 = g1;
  }
  return out;
}

}  // namespace dfrot::eval
