// SPDX-License-Identifier: Apache-2.0
// A small random LLaMA (GQA, untied or tied) and an independent float64 forward pass for tests.
#pragma once

#include <cmath>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/model/llama_weights.hpp"

namespace dfrot::test {

inline model::LlamaWeights synthetic_llama(std::size_t d, std::size_t n_layers, std::size_t n_heads,
                                           std::size_t n_kv, std::size_t ff, std::size_t vocab,
                                           std::uint64_t seed, bool tied = false) {
  model::ModelConfig c;
  c.architecture = "llama";
  c.hidden = d;
  c.n_layers = n_layers;
  c.n_heads = n_heads;
  c.n_kv_heads = n_kv;
  c.head_dim = d / n_heads;
  c.intermediate = ff;
  c.vocab = vocab;
  c.max_seq_len = 64;
  c.rope_theta = 10000;
  c.norm_eps = 1e-5;
  c.tied_embeddings = tied;
  Rng rng(seed);
  auto matrix = [&](std::size_t rows, std::size_t cols, double scale) {
    model::RowMatrix m(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(rng.normal() * scale);
    return m;
  };
  auto norm = [&](std::size_t n) {
    model::Vector v(static_cast<Eigen::Index>(n));
    for (Eigen::Index i = 0; i < v.size(); ++i) v(i) = static_cast<float>(1.0 + 0.3 * rng.normal());
    return v;
  };
  model::LlamaWeights w;
  w.config = c;
  double const s = 1.0 / std::sqrt(double(d));
  w.tok_embeddings = matrix(vocab, d, 1.0);
  w.norm = norm(d);
  if (!tied) w.output = matrix(vocab, d, s);
  for (std::size_t l = 0; l < n_layers; ++l) {
    model::LayerWeights layer;
    layer.attention_norm = norm(d);
    layer.wq = matrix(n_heads * c.head_dim, d, s);
    layer.wk = matrix(n_kv * c.head_dim, d, s);
    layer.wv = matrix(n_kv * c.head_dim, d, s);
    layer.wo = matrix(d, n_heads * c.head_dim, s);
    layer.ffn_norm = norm(d);
    layer.w_gate = matrix(ff, d, s);
    layer.w_up = matrix(ff, d, s);
    layer.w_down = matrix(d, ff, 1.0 / std::sqrt(double(ff)));
    w.layers.push_back(std::move(layer));
  }
  return w;
}

/// Float64 forward pass written from the LLaMA definition with plain loops (no KV cache, no
/// Eigen products): logits [tokens][vocab].
inline std::vector<std::vector<double>> reference_forward(model::LlamaWeights const& w,
                                                          std::vector<int> const& tokens) {
  auto const& c = w.config;
  std::size_t const n = tokens.size(), d = c.hidden, dh = c.head_dim;
  auto matvec = [](model::RowMatrix const& m, std::vector<double> const& x) {
    std::vector<double> y(static_cast<std::size_t>(m.rows()), 0.0);
    for (Eigen::Index r = 0; r < m.rows(); ++r)
      for (Eigen::Index col = 0; col < m.cols(); ++col) y[std::size_t(r)] += double(m(r, col)) * x[std::size_t(col)];
    return y;
  };
  auto rmsnorm = [&](std::vector<double> const& x, model::Vector const& g) {
    double ss = 0;
    for (double v : x) ss += v * v;
    double const inv = 1.0 / std::sqrt(ss / double(x.size()) + c.norm_eps);
    std::vector<double> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * double(g(Eigen::Index(i)));
    return y;
  };
  auto rope = [&](std::vector<double>& v, std::size_t pos) {
    for (std::size_t h = 0; h < v.size(); h += dh)
      for (std::size_t i = 0; i < dh / 2; ++i) {
        double const f = std::pow(c.rope_theta, -2.0 * double(i) / double(dh));
        double const a = v[h + 2 * i], b = v[h + 2 * i + 1];
        v[h + 2 * i] = a * std::cos(pos * f) - b * std::sin(pos * f);
        v[h + 2 * i + 1] = a * std::sin(pos * f) + b * std::cos(pos * f);
      }
  };
  std::vector<std::vector<double>> x(n, std::vector<double>(d));
  for (std::size_t t = 0; t < n; ++t)
    for (std::size_t i = 0; i < d; ++i) x[t][i] = static_cast<double>(w.tok_embeddings(tokens[t], Eigen::Index(i)));
  for (auto const& layer : w.layers) {
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (std::size_t t = 0; t < n; ++t) {
      auto const h = rmsnorm(x[t], layer.attention_norm);
      q[t] = matvec(layer.wq, h);
      k[t] = matvec(layer.wk, h);
      v[t] = matvec(layer.wv, h);
      rope(q[t], t);
      rope(k[t], t);
    }
    std::size_t const group = c.n_heads / c.n_kv_heads;
    for (std::size_t t = 0; t < n; ++t) {
      std::vector<double> att(c.n_heads * dh, 0.0);
      for (std::size_t hd = 0; hd < c.n_heads; ++hd) {
        std::size_t const g = hd / group;
        std::vector<double> s(t + 1);
        double mx = -1e300;
        for (std::size_t j = 0; j <= t; ++j) {
          double dot = 0;
          for (std::size_t i = 0; i < dh; ++i) dot += q[t][hd * dh + i] * k[j][g * dh + i];
          s[j] = dot / std::sqrt(double(dh));
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (std::size_t j = 0; j <= t; ++j)
          for (std::size_t i = 0; i < dh; ++i) att[hd * dh + i] += s[j] / sum * v[j][g * dh + i];
      }
      auto const o = matvec(layer.wo, att);
      for (std::size_t i = 0; i < d; ++i) x[t][i] += o[i];
      auto const h2 = rmsnorm(x[t], layer.ffn_norm);
      auto g = matvec(layer.w_gate, h2);
      auto const u = matvec(layer.w_up, h2);
      for (std::size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      auto const down = matvec(layer.w_down, g);
      for (std::size_t i = 0; i < d; ++i) x[t][i] += down[i];
    }
  }
  std::vector<std::vector<double>> logits(n);
  for (std::size_t t = 0; t < n; ++t) logits[t] = matvec(w.lm_head(), rmsnorm(x[t], w.norm));
  return logits;
}

}  // namespace dfrot::test
