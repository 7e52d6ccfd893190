// SPDX-License-Identifier: Apache-2.0
// evaluate_zeroshot: one task end to end — its documents' (context, continuation) pairs tokenized
// as lm-eval does, scored by the model (any engine), reduced to lm-eval's metrics.
#pragma once

#include <chrono>
#include <functional>
#include <span>
#include <vector>

#include "dfrot/eval/loglikelihood.hpp"
#include "dfrot/eval/zeroshot_metrics.hpp"
#include "dfrot/eval/zeroshot_tasks.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/tokenizer/tokenizer.hpp"

namespace dfrot::eval {

struct ZeroShotOptions {
  LoglikelihoodOptions loglikelihood;
  bool add_bos = false;  ///< lm-eval adds no BOS for causal models
};

struct ZeroShotResult {
  TaskScores scores;
  std::size_t n_requests = 0;
  std::size_t n_rows = 0;  ///< forward rows (contexts once, continuations without their last token)
  double seconds = 0;
};

/// The prefix lm-eval gives an empty context: the EOT token (here EOS, else BOS, else id 0).
inline int empty_context_token(tokenizer::Tokenizer const& tok) {
  if (tok.eos_id() >= 0) return tok.eos_id();
  return tok.bos_id() >= 0 ? tok.bos_id() : 0;
}

/// The requests of `docs`, their choices in order.
inline std::vector<TokenRequest> zeroshot_requests(tokenizer::Tokenizer const& tok,
                                                   std::span<ZeroShotDoc const> docs, bool add_bos) {
  std::vector<TokenRequest> reqs;
  int const prefix = empty_context_token(tok);
  for (ZeroShotDoc const& d : docs)
    for (ScoredPair const& p : d.choices)
      reqs.push_back(encode_request(tok, p.context, p.continuation, prefix, add_bos));
  return reqs;
}

inline ZeroShotResult evaluate_zeroshot(model::LlamaModel const& model, tokenizer::Tokenizer const& tok,
                                        ZeroShotTask const& task, std::span<ZeroShotDoc const> docs,
                                        ZeroShotOptions const& opt, model::ForwardHooks* hooks = nullptr,
                                        std::function<void(LoglikelihoodProgress const&)> const& progress = {}) {
  auto const start = std::chrono::steady_clock::now();
  std::vector<TokenRequest> const reqs = zeroshot_requests(tok, docs, opt.add_bos);
  std::size_t rows = 0;
  auto const counted = [&](LoglikelihoodProgress const& p) {
    rows = p.rows;
    if (progress) progress(p);
  };
  std::vector<Loglikelihood> const lls = score_requests(model, reqs, opt.loglikelihood, hooks, counted);
  ZeroShotResult r;
  r.scores = score_task(task, docs, lls);
  r.n_requests = reqs.size();
  r.n_rows = rows;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace dfrot::eval
