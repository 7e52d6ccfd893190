// SPDX-License-Identifier: Apache-2.0
// Straightforward float64 reference implementations of the quantizers: the test oracles.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <span>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/quant/quant_config.hpp"

/// \file
/// Written independently of the optimized code (no shared helpers beyond the config structs), as
/// plainly as possible: loops over rows and groups, double everywhere, the formulas of
/// ALGORITHMS.md §3 verbatim. Slow by design; use on small inputs only.
namespace dfrot::quant::reference {

/// Codes, parameters and dequantized values of a quantized [rows × cols] matrix (row-major).
struct Quantized {
  std::size_t rows = 0, cols = 0, group = 0;  ///< group = columns per (scale, zero)
  std::vector<int> codes;                     ///< [rows × cols]
  std::vector<double> scales, zeros;          ///< [rows × cols/group]
  std::vector<double> values;                 ///< dequantized [rows × cols]
};

inline double max_code(int bits, Symmetry s) {
  return s == Symmetry::kSym ? std::ldexp(1.0, bits - 1) - 1.0 : std::ldexp(1.0, bits) - 1.0;
}
inline double min_code(int bits, Symmetry s) {
  return s == Symmetry::kSym ? -std::ldexp(1.0, bits - 1) : 0.0;
}

/// q = clamp(nearbyint(x/scale) + zero, qmin, qmax).
inline int code_of(double x, double scale, double zero, int bits, Symmetry s) {
  double q = std::nearbyint(x / scale) + zero;
  q = std::clamp(q, min_code(bits, s), max_code(bits, s));
  return static_cast<int>(q);
}

/// Weight rule (§3.2) for a range that already contains 0.
inline void weight_rule(double lo, double hi, int bits, Symmetry s, bool clamp, double& scale,
                        double& zero) {
  double const maxq = max_code(bits, s);
  if (s == Symmetry::kSym) {
    double m = std::max(std::abs(lo), std::abs(hi));
    if (clamp) m = std::max(m, 1e-5);
    scale = m / maxq;
    zero = 0;
    return;
  }
  if (lo == 0 && hi == 0) {
    lo = -1;
    hi = 1;
  }
  scale = (clamp ? std::max(hi - lo, 1e-5) : hi - lo) / maxq;
  zero = std::nearbyint(-lo / scale);
}

/// Σ |Q(x) − x|^norm of one group.
inline double group_error(std::span<double const> x, double scale, double zero, int bits,
                          Symmetry s, double norm) {
  double e = 0;
  for (double v : x) {
    double const d = scale * (code_of(v, scale, zero, bits, s) - zero) - v;
    e += std::pow(std::abs(d), norm);
  }
  return e;
}

/// Weight group parameters with the optional MSE clip search (§3.2).
inline void weight_group(std::span<double const> x, int bits, Symmetry s, double clip_ratio,
                         ClipSearchConfig const& clip, double& scale, double& zero) {
  double lo = 0, hi = 0;
  for (double v : x) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  lo *= clip_ratio;
  hi *= clip_ratio;
  weight_rule(lo, hi, bits, s, true, scale, zero);
  if (!clip.enabled) return;
  double const m = std::max(std::max(std::abs(lo), std::abs(hi)), 1e-5);
  if (lo == 0 && hi == 0) {
    lo = -1;
    hi = 1;
  }
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < static_cast<int>(clip.max_shrink * clip.grid); ++i) {
    double const p = 1.0 - static_cast<double>(i) / clip.grid;
    double sc = 0, z = 0;
    if (s == Symmetry::kSym) {
      sc = p * m / max_code(bits, s);
    } else {
      sc = (p * hi - p * lo) / max_code(bits, s);
      z = std::nearbyint(-p * lo / sc);
    }
    double const e = group_error(x, sc, z, bits, s, clip.norm);
    if (e < best) {
      best = e;
      scale = sc;
      zero = z;
    }
  }
}

/// Weight RTN (§3.2), granularity per row or per group (not per tensor).
inline Quantized quantize_weights(std::vector<double> const& w, std::size_t rows, std::size_t cols,
                                  QuantConfig const& cfg, ClipSearchConfig const& clip = {}) {
  Quantized out;
  out.rows = rows;
  out.cols = cols;
  out.group = cfg.granularity == Granularity::kPerGroup ? cfg.group_size : cols;
  std::size_t const ng = cols / out.group;
  out.codes.assign(rows * cols, {});
  out.values.assign(rows * cols, {});
  out.scales.assign(rows * ng, {});
  out.zeros.assign(rows * ng, {});
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t k = 0; k < ng; ++k) {
      std::span<double const> g(w.data() + r * cols + k * out.group, out.group);
      double scale = 1, zero = 0;
      weight_group(g, cfg.bits, cfg.symmetry, static_cast<double>(cfg.clip_ratio), clip, scale, zero);
      out.scales[r * ng + k] = scale;
      out.zeros[r * ng + k] = zero;
      for (std::size_t j = 0; j < out.group; ++j) {
        std::size_t const i = r * cols + k * out.group + j;
        out.codes[i] = code_of(w[i], scale, zero, cfg.bits, cfg.symmetry);
        out.values[i] = scale * (out.codes[i] - zero);
      }
    }
  }
  return out;
}

/// Dynamic activation quantization (§3.4): per token (zero forced into the range) or per token
/// group (no forcing), times the clip ratio. A constant non-zero asym group is widened to include
/// 0.
inline Quantized quantize_activations(std::vector<double> const& x, std::size_t rows,
                                      std::size_t cols, QuantConfig const& cfg) {
  Quantized out;
  out.rows = rows;
  out.cols = cols;
  out.group = cfg.granularity == Granularity::kPerGroup ? cfg.group_size : cols;
  std::size_t const ng = cols / out.group;
  out.codes.assign(rows * cols, {});
  out.values.assign(rows * cols, {});
  out.scales.assign(rows * ng, {});
  out.zeros.assign(rows * ng, {});
  double const maxq = max_code(cfg.bits, cfg.symmetry);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t k = 0; k < ng; ++k) {
      double const* g = x.data() + r * cols + k * out.group;
      double lo = *std::min_element(g, g + out.group);
      double hi = *std::max_element(g, g + out.group);
      if (cfg.granularity == Granularity::kPerRow) {
        lo = std::min(lo, 0.0);
        hi = std::max(hi, 0.0);
      }
      lo *= static_cast<double>(cfg.clip_ratio);
      hi *= static_cast<double>(cfg.clip_ratio);
      double scale = 1, zero = 0;
      if (cfg.symmetry == Symmetry::kSym) {
        scale = std::max(std::abs(lo), std::abs(hi)) / maxq;
        if (scale == 0) scale = 1;
      } else {
        if (lo == 0 && hi == 0) {
          lo = -1;
          hi = 1;
        } else if (lo == hi) {
          lo = std::min(lo, 0.0);
          hi = std::max(hi, 0.0);
        }
        scale = (hi - lo) / maxq;
        zero = std::nearbyint(-lo / scale);
      }
      out.scales[r * ng + k] = scale;
      out.zeros[r * ng + k] = zero;
      for (std::size_t j = 0; j < out.group; ++j) {
        std::size_t const i = r * cols + k * out.group + j;
        out.codes[i] = code_of(x[i], scale, zero, cfg.bits, cfg.symmetry);
        out.values[i] = scale * (out.codes[i] - zero);
      }
    }
  }
  return out;
}

/// Settings of reference::gptq (mirrors GptqConfig without the blocking).
struct GptqSettings {
  QuantConfig quant;
  ClipSearchConfig clip;
  double percdamp = 0.01;
  bool act_order = false;
  bool static_groups = false;
};

/// Unblocked GPTQ (§3.3) in float64: W [rows × cols] row-major, H [cols × cols] row-major.
/// Returns the dequantized weights [rows × cols]. Inverse by Gauss-Jordan, Cholesky by the textbook
/// loop; every column update is applied to all later columns immediately.
inline std::vector<double> gptq(std::vector<double> w, std::size_t rows, std::size_t cols,
                                std::vector<double> h, GptqSettings const& s) {
  QuantConfig const& q = s.quant;
  bool const grouped = q.granularity == Granularity::kPerGroup;
  std::size_t const gs = grouped ? q.group_size : cols;
  auto W = [&](std::size_t r, std::size_t c) -> double& { return w[r * cols + c]; };
  auto H = [&](std::size_t i, std::size_t j) -> double& { return h[i * cols + j]; };
  // Per-row parameters from the original W.
  std::vector<double> scale(rows), zero(rows);
  auto find = [&](std::size_t c0, std::size_t n, auto col_of) {
    for (std::size_t r = 0; r < rows; ++r) {
      std::vector<double> seg(n);
      for (std::size_t j = 0; j < n; ++j) seg[j] = W(r, col_of(c0 + j));
      weight_group(seg, q.bits, q.symmetry, static_cast<double>(q.clip_ratio), s.clip, scale[r], zero[r]);
    }
  };
  auto identity = [](std::size_t c) { return c; };
  find(0, cols, identity);
  for (std::size_t d = 0; d < cols; ++d) {
    if (H(d, d) == 0) {
      H(d, d) = 1;
      for (std::size_t r = 0; r < rows; ++r) W(r, d) = 0;
    }
  }
  std::vector<std::vector<double>> static_scale, static_zero;
  if (grouped && s.static_groups) {
    for (std::size_t c0 = 0; c0 < cols; c0 += gs) {
      find(c0, gs, identity);
      static_scale.push_back(scale);
      static_zero.push_back(zero);
    }
  }
  std::vector<std::size_t> perm(cols);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  if (s.act_order) {
    std::vector<double> diag(cols);
    for (std::size_t d = 0; d < cols; ++d) diag[d] = H(d, d);
    std::stable_sort(perm.begin(), perm.end(),
                     [&](std::size_t a, std::size_t b) { return diag[a] > diag[b]; });
  }
  // Permuted copies.
  std::vector<double> wp(rows * cols), hp(cols * cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) wp[r * cols + c] = W(r, perm[c]);
  for (std::size_t i = 0; i < cols; ++i)
    for (std::size_t j = 0; j < cols; ++j) hp[i * cols + j] = H(perm[i], perm[j]);
  double mean_diag = 0;
  for (std::size_t d = 0; d < cols; ++d) mean_diag += hp[d * cols + d];
  mean_diag /= static_cast<double>(cols);
  for (std::size_t d = 0; d < cols; ++d) hp[d * cols + d] += s.percdamp * mean_diag;
  // Inverse by Gauss-Jordan with partial pivoting.
  std::size_t const n = cols;
  std::vector<double> a = hp, inv(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) inv[i * n + i] = 1;
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t piv = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(a[r * n + c]) > std::abs(a[piv * n + c])) piv = r;
    for (std::size_t j = 0; j < n; ++j) {
      std::swap(a[c * n + j], a[piv * n + j]);
      std::swap(inv[c * n + j], inv[piv * n + j]);
    }
    double const d = a[c * n + c];
    for (std::size_t j = 0; j < n; ++j) {
      a[c * n + j] /= d;
      inv[c * n + j] /= d;
    }
    for (std::size_t r = 0; r < n; ++r) {
      if (r == c) continue;
      double const f = a[r * n + c];
      if (f == 0) continue;
      for (std::size_t j = 0; j < n; ++j) {
        a[r * n + j] -= f * a[c * n + j];
        inv[r * n + j] -= f * inv[c * n + j];
      }
    }
  }
  // Upper Cholesky factor U of the inverse (inv = Uᵀ U).
  std::vector<double> u(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    double d = inv[i * n + i];
    for (std::size_t k = 0; k < i; ++k) d -= u[k * n + i] * u[k * n + i];
    DFROT_THROW_IF(!(d > 0), NumericError,
                   "reference::gptq: inverse Hessian is not positive definite");
    u[i * n + i] = std::sqrt(d);
    for (std::size_t j = i + 1; j < n; ++j) {
      double v = inv[i * n + j];
      for (std::size_t k = 0; k < i; ++k) v -= u[k * n + i] * u[k * n + j];
      u[i * n + j] = v / u[i * n + i];
    }
  }
  // Column sweep.
  std::vector<double> out(rows * cols);
  for (std::size_t i = 0; i < n; ++i) {
    if (grouped && !s.static_groups && i % gs == 0) {
      for (std::size_t r = 0; r < rows; ++r) {
        std::vector<double> seg(wp.begin() + static_cast<std::ptrdiff_t>(r * cols + i),
                                wp.begin() + static_cast<std::ptrdiff_t>(r * cols + i + gs));
        weight_group(seg, q.bits, q.symmetry, static_cast<double>(q.clip_ratio), s.clip, scale[r], zero[r]);
      }
    }
    for (std::size_t r = 0; r < rows; ++r) {
      double sc = scale[r], z = zero[r];
      if (grouped && s.static_groups) {
        sc = static_scale[perm[i] / gs][r];
        z = static_zero[perm[i] / gs][r];
      }
      double const x = wp[r * cols + i];
      double const qv = sc * (code_of(x, sc, z, q.bits, q.symmetry) - z);
      out[r * cols + perm[i]] = qv;
      double const err = (x - qv) / u[i * n + i];
      for (std::size_t j = i + 1; j < n; ++j) wp[r * cols + j] -= err * u[i * n + j];
    }
  }
  return out;
}

/// Mean, unbiased standard deviation and skewness E[(x−μ)³]/(σ³ + 1e-6) (§6.2), two passes.
struct Moments {
  double mean = 0, std = 0, skew = 0;
};
inline Moments moments(std::span<double const> x) {
  Moments m;
  double const n = static_cast<double>(x.size());
  for (double v : x) m.mean += v;
  m.mean /= n;
  double m2 = 0, m3 = 0;
  for (double v : x) {
    double const d = v - m.mean;
    m2 += d * d;
    m3 += d * d * d;
  }
  m.std = std::sqrt(m2 / (n - 1));
  m.skew = (m3 / n) / (m.std * m.std * m.std + 1e-6);
  return m;
}

}  // namespace dfrot::quant::reference
