// SPDX-License-Identifier: Apache-2.0
// Kernel body of the MSE clip search's error Σ_j |Q(w_j) − w_j|^norm (ALGORITHMS.md §3.2), written
// once over the ops types ClipF (float lanes) and ClipD (double lanes) of one level. No include
// guard on purpose: clip_kernels_<isa>.hpp include it inside their ISA namespace and target region.
//
// Exactness across levels: each element's term is computed by the same IEEE operations in the same
// order on every level (every product that feeds a sum is an explicit FMA, so the compiler's
// contraction cannot differ between levels), and element j is added to double lane j mod 16, the
// 16 lanes summed pairwise at the end. So every level returns the same double, bit for bit, and the
// scalar level is the oracle.

/// The two element types of the clip search: float weights (RTN) run on ClipF and widen each error
/// to double; double weights (GPTQ's float64 path) run on ClipD throughout.
template <class T>
using ClipElementOps = std::conditional_t<std::is_same_v<T, float>, ClipF, ClipD>;

inline constexpr std::size_t kClipLanes = 16;  // element j is summed in lane j mod 16

/// e^norm for e ≥ 0 (double), with 0 ↦ 0. log2 e = k + log2 m with m ∈ [√½, √2], ln m = 2·atanh(s),
/// s = (m − 1)/(m + 1), |s| ≤ 0.172 (series to s⁹); then 2^y = 2ⁿ·exp(f·ln 2), y = n + f, |f| ≤ ½
/// (Taylor to degree 8). Relative error < 3·10⁻⁹ against the exact power for norm ≤ 4 (tests/quant;
/// the log part's share grows with the norm), far below what separates two clip candidates. Exponents
/// outside the double range saturate: a term below 2⁻¹⁰²² counts as 0, one above 2¹⁰²³ as +inf.
/// `norm_k` = norm and `norm_log2e` = norm/ln 2, passed in so that callers hoist them.
/// The final p·2ⁿ is exact for normal results, so a compiler that contracted it into the sum could
/// not change a bit (the norm-2 path is an explicit FMA for the same reason).
DFROT_FORCEINLINE typename ClipD::Reg clip_term(typename ClipD::Reg e, typename ClipD::Reg norm_k,
                                               typename ClipD::Reg norm_log2e) noexcept {
  using D = ClipD;
  using Reg = typename D::Reg;
  {
    Reg const one = D::set1(1.0);
    Reg k = D::sub(D::exponent_field(e), D::set1(1023.0));
    Reg m = D::mantissa_1_2(e);
    Reg const big = D::set1(0x1.6a09e667f3bcdp+0);  // √2
    k = D::select_gt(m, big, D::add(k, one), k);
    m = D::select_gt(m, big, D::mul(m, D::set1(0.5)), m);
    Reg const s = D::div(D::sub(m, one), D::add(m, one));
    Reg const s2 = D::mul(s, s);
    Reg q = D::fma(s2, D::set1(1.0 / 9.0), D::set1(1.0 / 7.0));
    q = D::fma(s2, q, D::set1(1.0 / 5.0));
    q = D::fma(s2, q, D::set1(1.0 / 3.0));
    q = D::fma(s2, q, one);
    Reg const ln_m = D::mul(D::add(s, s), q);
    Reg const y = D::fma(norm_log2e, ln_m, D::mul(norm_k, k));
    Reg const n = D::round_even(y);
    Reg const g = D::mul(D::sub(y, n), D::set1(0x1.62e42fefa39efp-1));  // f·ln 2
    Reg p = D::fma(g, D::set1(1.0 / 40320.0), D::set1(1.0 / 5040.0));
    p = D::fma(g, p, D::set1(1.0 / 720.0));
    p = D::fma(g, p, D::set1(1.0 / 120.0));
    p = D::fma(g, p, D::set1(1.0 / 24.0));
    p = D::fma(g, p, D::set1(1.0 / 6.0));
    p = D::fma(g, p, D::set1(0.5));
    p = D::fma(g, p, one);
    p = D::fma(g, p, one);
    Reg const lo = D::set1(-1022.0), hi = D::set1(1023.0);
    Reg r = D::mul(p, D::pow2i(D::min(D::max(n, lo), hi)));
    r = D::select_gt(n, hi, D::set1(HUGE_VAL), r);
    r = D::select_gt(lo, n, D::zero(), r);
    return D::select_gt(e, D::zero(), r, D::zero());
  }
}

/// Adds the terms of the 16 elements x[0, 16) to acc (element i into lane i); lanes at or beyond
/// `count` (a partial last block, read from a zero-padded copy) add 0.
template <class T, bool kAsym, bool kSquare>
DFROT_FORCEINLINE void clip_block(T const* x, std::size_t count, QuantParams<T> p, Grid<T> const& g,
                                  typename ClipD::Reg norm_k, typename ClipD::Reg norm_log2e,
                                  typename ClipD::Reg* acc) noexcept {
  using E = ClipElementOps<T>;
  using D = ClipD;
  constexpr std::size_t kParts = E::kLanes / D::kLanes > 0 ? E::kLanes / D::kLanes : 1;
  typename E::Reg const scale = E::set1(p.scale), zero = E::set1(p.zero);
  typename E::Reg const qmin = E::set1(g.qmin), qmax = E::set1(g.qmax);
  for (std::size_t i = 0; i < kClipLanes; i += E::kLanes) {
    typename E::Reg const v = E::load(x + i);
    typename E::Reg q = E::round_even(E::div(v, scale));
    if constexpr (kAsym) q = E::add(q, zero);
    q = E::min(E::max(q, qmin), qmax);
    if constexpr (kAsym) q = E::sub(q, zero);  // small integers: exact
    typename E::Reg e = E::abs(E::fmsub(scale, q, v));  // |scale·(q − zero) − w|, one rounding
    if (count < i + E::kLanes) e = E::keep_first(e, count > i ? count - i : 0);
    typename D::Reg parts[kParts];
    if constexpr (std::is_same_v<T, float>) {
      E::widen(e, parts);
    } else {
      parts[0] = e;
    }
    for (std::size_t k = 0; k < kParts; ++k) {
      std::size_t const slot = i / D::kLanes + k;
      if constexpr (kSquare) {
        acc[slot] = D::fma(parts[k], parts[k], acc[slot]);
      } else {
        acc[slot] = D::add(acc[slot], clip_term(parts[k], norm_k, norm_log2e));
      }
    }
  }
}

/// Σ of the 16 lanes: lane l + lane l + w for w = 8, 4, 2, 1 (the same order on every level).
inline double clip_lanes_sum(typename ClipD::Reg const* acc) noexcept {
  double lane[kClipLanes];
  for (std::size_t k = 0; k < kClipLanes / ClipD::kLanes; ++k) ClipD::store(lane + k * ClipD::kLanes, acc[k]);
  for (std::size_t w = kClipLanes / 2; w >= 1; w /= 2) {
    for (std::size_t l = 0; l < w; ++l) lane[l] = lane[l] + lane[l + w];
  }
  return lane[0];
}

/// Σ_j |scale·(clamp(round(x_j/scale) + zero) − zero) − x_j|^norm over x[0, n). Stops once the
/// partial sum (checked every 64 elements) reaches `bound` and returns it: the terms are ≥ 0 and
/// the lane sums only grow, so such a candidate can no longer be a strict improvement.
template <class T, bool kAsym, bool kSquare>
inline double clip_error_lanes(T const* x, std::size_t n, QuantParams<T> p, Grid<T> const& g,
                               double norm, double bound) noexcept {
  using D = ClipD;
  typename D::Reg acc[kClipLanes / D::kLanes];
  for (auto& a : acc) a = D::zero();
  typename D::Reg const norm_k = D::set1(norm);
  typename D::Reg const norm_log2e = D::set1(norm * 0x1.71547652b82fep+0);  // norm/ln 2
  std::size_t j = 0;
  for (; j + kClipLanes <= n; j += kClipLanes) {
    clip_block<T, kAsym, kSquare>(x + j, kClipLanes, p, g, norm_k, norm_log2e, acc);
    if ((j / kClipLanes) % 4 == 3) {
      double const partial = clip_lanes_sum(acc);
      if (partial >= bound) return partial;
    }
  }
  if (j < n) {
    T pad[kClipLanes] = {};
    for (std::size_t i = 0; j + i < n; ++i) pad[i] = x[j + i];
    clip_block<T, kAsym, kSquare>(pad, n - j, p, g, norm_k, norm_log2e, acc);
  }
  return clip_lanes_sum(acc);
}
