// SPDX-License-Identifier: Apache-2.0
// Kernel bodies of the Walsh-Hadamard family, written once over a vector type V (scalar, AVX2 or
// AVX-512; see core/simd/). This file has no include guard on purpose: kernels_<isa>.hpp include
// it inside their ISA namespace and target region, so every level gets its own compiled copy (a
// template defined outside a target region could not inline the ISA's intrinsics).
//
// Exactness: every level performs the same additions, subtractions and multiplications in the same
// order per element, so all levels produce bit-identical results and the scalar level is the oracle.

// One radix-2^S pass over groups of 2^S vectors at vector stride hv, reading src and writing x
// (src == x: in place). kFirst also runs the in-register stages (h < lanes) first; kScale
// multiplies by `scale` before the store.
template <class V, int S, bool kFirst, bool kScale>
inline void fwht_pass(typename V::Element const* src, typename V::Element* x, std::size_t nv,
                      std::size_t hv, typename V::Element scale) {
  using Reg = typename V::Reg;
  constexpr int kRadix = 1 << S;
  constexpr std::size_t kLanes = V::kLanes;
  Reg const scale_v = V::set1(scale);
  for (std::size_t base = 0; base < nv; base += hv * kRadix) {
    for (std::size_t j = 0; j < hv; ++j) {
      typename V::Element* p = x + (base + j) * kLanes;
      typename V::Element const* q = src + (base + j) * kLanes;
      Reg v[kRadix];
#pragma GCC unroll 16
      for (int t = 0; t < kRadix; ++t) v[t] = V::load(q + t * hv * kLanes);
      if constexpr (kFirst) {
#pragma GCC unroll 16
        for (int t = 0; t < kRadix; ++t) v[t] = V::butterfly_lanes(v[t]);
      }
#pragma GCC unroll 4
      for (int h = 1; h < kRadix; h <<= 1) {
#pragma GCC unroll 16
        for (int t = 0; t < kRadix; ++t) {
          if ((t & h) == 0) {
            Reg const a = v[t];
            Reg const b = v[t + h];
            v[t] = V::add(a, b);
            v[t + h] = V::sub(a, b);
          }
        }
      }
      if constexpr (kScale) {
#pragma GCC unroll 16
        for (int t = 0; t < kRadix; ++t) v[t] = V::mul(v[t], scale_v);
      }
#pragma GCC unroll 16
      for (int t = 0; t < kRadix; ++t) V::store(p + t * hv * kLanes, v[t]);
    }
  }
}

template <class V, int S, bool kFirst>
inline void fwht_pass_scaled(typename V::Element const* src, typename V::Element* x,
                             std::size_t nv, std::size_t hv, bool scaled,
                             typename V::Element scale) {
  if (scaled) {
    fwht_pass<V, S, kFirst, true>(src, x, nv, hv, scale);
  } else {
    fwht_pass<V, S, kFirst, false>(src, x, nv, hv, scale);
  }
}

template <class V, bool kFirst>
inline void fwht_pass_radix(int s, typename V::Element const* src, typename V::Element* x,
                            std::size_t nv, std::size_t hv, bool scaled,
                            typename V::Element scale) {
  switch (s) {
    case 0: fwht_pass_scaled<V, 0, kFirst>(src, x, nv, hv, scaled, scale); break;
    case 1: fwht_pass_scaled<V, 1, kFirst>(src, x, nv, hv, scaled, scale); break;
    case 2: fwht_pass_scaled<V, 2, kFirst>(src, x, nv, hv, scaled, scale); break;
    case 3: fwht_pass_scaled<V, 3, kFirst>(src, x, nv, hv, scaled, scale); break;
    default: fwht_pass_scaled<V, 4, kFirst>(src, x, nv, hv, scaled, scale); break;
  }
}

/// Sylvester-order FWHT of src[0, n) into x (n a power of two; src == x: in place; otherwise the
/// two do not overlap), then x *= scale unless scale == 1. Out of place, only the first pass reads
/// src, so x need not be copied first (the fused Hadamard + quantize reads activations this way).
template <class V>
inline void fwht_row(typename V::Element const* src, typename V::Element* x, std::size_t n,
                     typename V::Element scale) {
  using T = typename V::Element;
  constexpr std::size_t kLanes = V::kLanes;
  bool const scaled = scale != T(1);
  if (n < kLanes) {  // shorter than one vector: plain stages, same order as the vector path
    if (src != x) {
      for (std::size_t i = 0; i < n; ++i) x[i] = src[i];
    }
    for (std::size_t h = 1; h < n; h <<= 1) {
      for (std::size_t i = 0; i < n; i += 2 * h) {
        for (std::size_t j = i; j < i + h; ++j) {
          T const a = x[j];
          T const b = x[j + h];
          x[j] = a + b;
          x[j + h] = a - b;
        }
      }
    }
    if (scaled) {
      for (std::size_t i = 0; i < n; ++i) x[i] = x[i] * scale;
    }
    return;
  }
  // Radix per pass bounded by the register file: 16 vectors with 32 registers, else 8.
  constexpr int kMaxLog = sizeof(typename V::Reg) >= 64 ? 4 : 3;
  std::size_t const nv = n / kLanes;
  int stages_left = std::countr_zero(nv);
  std::size_t hv = 1;
  bool first = true;
  do {
    int const s = stages_left < kMaxLog ? stages_left : kMaxLog;
    stages_left -= s;
    bool const last_scaled = scaled && stages_left == 0;
    if (first) {
      fwht_pass_radix<V, true>(s, src, x, nv, hv, last_scaled, scale);
    } else {
      fwht_pass_radix<V, false>(s, x, x, nv, hv, last_scaled, scale);
    }
    first = false;
    hv <<= s;
  } while (stages_left > 0);
}

/// fwht_row on each of n_rows rows of length n at the given row stride.
template <class V>
inline void fwht_rows(typename V::Element* data, std::size_t n_rows, std::size_t n,
                      std::size_t row_stride, typename V::Element scale) {
  for (std::size_t r = 0; r < n_rows; ++r) {
    typename V::Element* row = data + r * row_stride;
    fwht_row<V>(row, row, n, scale);
  }
}

// K stage of T_n = (H_K ⊗ H_m) / √n on one row viewed as a K×m row-major matrix M: M ← S·M, with
// S the K×K ±1 matrix (as T), then × scale. Columns go in blocks of kCols vectors, copied to scratch
// (K·kCols·lanes elements) so the outputs can overwrite the row; 4 output rows share each load.
template <class V, int kCols, bool kScale>
inline void kstage_block(typename V::Element* x, std::size_t k, std::size_t m, std::size_t j,
                         typename V::Element const* signs, typename V::Element scale,
                         typename V::Element* scratch) {
  using Reg = typename V::Reg;
  constexpr std::size_t kLanes = V::kLanes;
  constexpr std::size_t kWidth = kCols * kLanes;
  for (std::size_t r = 0; r < k; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < kCols; ++c)
      V::store(scratch + r * kWidth + c * kLanes, V::load(x + r * m + j + c * kLanes));
  }
  Reg const scale_v = V::set1(scale);
  std::size_t row = 0;
  for (; row + 4 <= k; row += 4) {
    Reg acc[4][kCols];
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
#pragma GCC unroll 4
      for (int c = 0; c < kCols; ++c) acc[t][c] = V::zero();
    }
    for (std::size_t i = 0; i < k; ++i) {
      Reg in[kCols];
#pragma GCC unroll 4
      for (int c = 0; c < kCols; ++c) in[c] = V::load(scratch + i * kWidth + c * kLanes);
#pragma GCC unroll 4
      for (int t = 0; t < 4; ++t) {
        Reg const s = V::set1(signs[(row + t) * k + i]);
#pragma GCC unroll 4
        for (int c = 0; c < kCols; ++c) acc[t][c] = V::fmadd_sign(in[c], s, acc[t][c]);
      }
    }
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
#pragma GCC unroll 4
      for (int c = 0; c < kCols; ++c) {
        Reg const out = kScale ? V::mul(acc[t][c], scale_v) : acc[t][c];
        V::store(x + (row + t) * m + j + c * kLanes, out);
      }
    }
  }
  for (; row < k; ++row) {
    Reg acc[kCols];
#pragma GCC unroll 4
    for (int c = 0; c < kCols; ++c) acc[c] = V::zero();
    for (std::size_t i = 0; i < k; ++i) {
      Reg const s = V::set1(signs[row * k + i]);
#pragma GCC unroll 4
      for (int c = 0; c < kCols; ++c)
        acc[c] = V::fmadd_sign(V::load(scratch + i * kWidth + c * kLanes), s, acc[c]);
    }
#pragma GCC unroll 4
    for (int c = 0; c < kCols; ++c) {
      Reg const out = kScale ? V::mul(acc[c], scale_v) : acc[c];
      V::store(x + row * m + j + c * kLanes, out);
    }
  }
}

/// M ← scale · S·M for one row (K×m view). Scratch holds at least 2·K·lanes elements.
template <class V>
inline void kstage_row(typename V::Element* x, std::size_t k, std::size_t m,
                       typename V::Element const* signs, typename V::Element scale,
                       typename V::Element* scratch) {
  using T = typename V::Element;
  constexpr std::size_t kLanes = V::kLanes;
  bool const scaled = scale != T(1);
  std::size_t j = 0;
  if (kLanes > 1) {
    for (; j + 2 * kLanes <= m; j += 2 * kLanes) {
      if (scaled) {
        kstage_block<V, 2, true>(x, k, m, j, signs, scale, scratch);
      } else {
        kstage_block<V, 2, false>(x, k, m, j, signs, scale, scratch);
      }
    }
    for (; j + kLanes <= m; j += kLanes) {
      if (scaled) {
        kstage_block<V, 1, true>(x, k, m, j, signs, scale, scratch);
      } else {
        kstage_block<V, 1, false>(x, k, m, j, signs, scale, scratch);
      }
    }
  }
  for (; j < m; ++j) {  // columns left over (m smaller than a vector): one at a time
    for (std::size_t r = 0; r < k; ++r) scratch[r] = x[r * m + j];
    for (std::size_t row = 0; row < k; ++row) {
      T acc = T(0);
      for (std::size_t i = 0; i < k; ++i) acc = acc + scratch[i] * signs[row * k + i];
      x[row * m + j] = scaled ? acc * scale : acc;
    }
  }
}

/// Butterflies across `levels` doubling levels of blocks of length `block` (x has block·2^levels
/// elements): the outer H_{2^levels} factor of H_{2^a} ⊗ H_K0. Scales on the last level.
template <class V>
inline void outer_butterflies(typename V::Element* x, std::size_t block, int levels,
                              typename V::Element scale) {
  using T = typename V::Element;
  constexpr std::size_t kLanes = V::kLanes;
  std::size_t const n = block << levels;
  for (int level = 0; level < levels; ++level) {
    std::size_t const h = block << level;
    bool const scaled = scale != T(1) && level + 1 == levels;
    typename V::Reg const scale_v = V::set1(scale);
    for (std::size_t base = 0; base < n; base += 2 * h) {
      std::size_t i = 0;
      for (; i + kLanes <= h; i += kLanes) {
        auto const a = V::load(x + base + i);
        auto const b = V::load(x + base + h + i);
        auto s = V::add(a, b);
        auto d = V::sub(a, b);
        if (scaled) {
          s = V::mul(s, scale_v);
          d = V::mul(d, scale_v);
        }
        V::store(x + base + i, s);
        V::store(x + base + h + i, d);
      }
      for (; i < h; ++i) {
        T const a = x[base + i];
        T const b = x[base + h + i];
        x[base + i] = scaled ? (a + b) * scale : a + b;
        x[base + h + i] = scaled ? (a - b) * scale : a - b;
      }
    }
  }
}

/// The whole K·2^m transform of src[0, n) into x (src == x: in place): FWHT of every length-m
/// sub-row, the K0 stage on each of the 2^levels blocks, then the outer butterflies
/// (K = 2^levels · K0), all scaled by `scale` once. In place and out of place give the same bits.
template <class V>
inline void hadamard_row(typename V::Element const* src, typename V::Element* x, std::size_t n,
                         std::size_t k0, int levels, typename V::Element const* signs,
                         typename V::Element scale, typename V::Element* scratch) {
  using T = typename V::Element;
  std::size_t const k = k0 << levels;
  std::size_t const m = n / k;
  if (k == 1) {
    fwht_row<V>(src, x, n, scale);
    return;
  }
  for (std::size_t r = 0; r < k; ++r) fwht_row<V>(src + r * m, x + r * m, m, T(1));
  std::size_t const block = k0 * m;
  for (std::size_t b = 0; b < (std::size_t{1} << levels); ++b) {
    if (k0 > 1) kstage_row<V>(x + b * block, k0, m, signs, levels == 0 ? scale : T(1), scratch);
  }
  if (levels > 0) outer_butterflies<V>(x, block, levels, scale);
}
