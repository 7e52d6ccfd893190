// SPDX-License-Identifier: Apache-2.0
// Zero-shot metrics as lm-eval 0.4 computes them: acc and acc_norm (argmax, first maximum on ties),
// LAMBADA's greedy accuracy and target perplexity, and the standard error of each.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <span>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/eval/loglikelihood.hpp"
#include "dfrot/eval/zeroshot_tasks.hpp"

namespace dfrot::eval {

/// A mean and its standard error.
struct Estimate {
  double value = 0;
  double se = std::numeric_limits<double>::quiet_NaN();  ///< NaN for fewer than 2 samples
};

/// The mean and lm-eval's mean_stderr: sample standard deviation (n − 1) / √n.
inline Estimate mean_with_stderr(std::span<double const> x) {
  DFROT_THROW_IF(x.empty(), ShapeError, "metrics: no samples");
  double mean = 0;
  for (double v : x) mean += v;
  mean /= double(x.size());
  Estimate e{mean};
  if (x.size() > 1) {
    double ss = 0;
    for (double v : x) ss += (v - mean) * (v - mean);
    e.se = std::sqrt(ss / double(x.size() - 1)) / std::sqrt(double(x.size()));
  }
  return e;
}

/// Index of the largest value, the first one on ties (numpy's argmax); NaN never wins.
inline std::size_t argmax_first(std::span<double const> v) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[best] || std::isnan(v[best])) best = i;
  return best;
}

struct TaskScores {
  std::size_t n_docs = 0;
  Estimate acc;                     ///< LAMBADA: greedy match of all target tokens
  std::optional<Estimate> acc_norm; ///< multiple choice: argmax of logprob / length
  std::optional<Estimate> ppl;      ///< LAMBADA: exp(−mean target log-likelihood)
  /// What the papers' tables report for the task (acc, or acc_norm for ARC-c).
  Estimate paper() const { return acc_norm && paper_uses_acc_norm ? *acc_norm : acc; }
  bool paper_uses_acc_norm = false;
};

/// Scores `docs` from `lls`, their choices' log-likelihoods in document order. LAMBADA's
/// perplexity error is the delta method's PPL·se(mean log-likelihood) (lm-eval bootstraps it;
/// both estimate the same spread).
/// \throws ShapeError when the counts do not match.
inline TaskScores score_task(ZeroShotTask const& task, std::span<ZeroShotDoc const> docs,
                             std::span<Loglikelihood const> lls) {
  std::size_t n_choices = 0;
  for (ZeroShotDoc const& d : docs) n_choices += d.choices.size();
  DFROT_THROW_IF(n_choices != lls.size(), ShapeError, "metrics: ", lls.size(),
                 " log-likelihoods for ", n_choices, " choices");
  std::vector<double> acc, acc_norm, target_ll;
  std::size_t k = 0;
  for (ZeroShotDoc const& d : docs) {
    std::span<Loglikelihood const> const c = lls.subspan(k, d.choices.size());
    k += d.choices.size();
    if (task.kind == TaskKind::kLambada) {
      acc.push_back(c[0].greedy ? 1.0 : 0.0);
      target_ll.push_back(c[0].logprob);
      continue;
    }
    std::vector<double> ll, norm;
    for (std::size_t i = 0; i < c.size(); ++i) {
      ll.push_back(c[i].logprob);
      if (!d.norm_length.empty()) {
        // An empty choice (length 0): lm-eval's division gives −inf, never chosen.
        norm.push_back(d.norm_length[i] > 0 ? c[i].logprob / d.norm_length[i]
                                            : -std::numeric_limits<double>::infinity());
      }
    }
    acc.push_back(argmax_first(ll) == d.gold ? 1.0 : 0.0);
    if (!norm.empty()) acc_norm.push_back(argmax_first(norm) == d.gold ? 1.0 : 0.0);
  }
  TaskScores s;
  s.n_docs = docs.size();
  s.paper_uses_acc_norm = task.paper_uses_acc_norm;
  s.acc = mean_with_stderr(acc);
  if (!acc_norm.empty()) s.acc_norm = mean_with_stderr(acc_norm);
  if (!target_ll.empty()) {
    Estimate const ll = mean_with_stderr(target_ll);
    double const ppl = std::exp(-ll.value);
    s.ppl = Estimate{ppl, ppl * ll.se};
  }
  return s;
}

}  // namespace dfrot::eval
