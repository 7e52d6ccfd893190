// SPDX-License-Identifier: Apache-2.0
// Kernel bodies of dynamic per-token (and per-token-group) activation quantization, written once
// over an ops type V (scalar, AVX2 or AVX-512; see quant/cpu/ops_*.hpp). No include guard on
// purpose: activation_kernels_<isa>.hpp include it inside their ISA namespace and target region, so
// every level compiles its own copy.
//
// Exactness: every level performs, per element, the same IEEE operations in the same order
// (x/scale, round-half-even, + zero, max(qmin), min(qmax), then scale·(q − zero)); min/max
// reductions are exact and their only order effect (the sign of a zero) is removed by
// activation_params. So all levels are bit-identical and the scalar level is the oracle.

/// Output mode of act_rows.
enum class ActMode { kFake, kPacked4, kBytes };

/// min/max of x[0, n) into lo/hi (lo = +inf, hi = −inf for n = 0); returns false when a value is
/// not finite (x·0 is NaN exactly for ±inf and NaN).
template <class V>
inline bool act_range(float const* x, std::size_t n, float& lo, float& hi) noexcept {
  using Reg = typename V::Reg;
  constexpr std::size_t kLanes = V::kLanes;
  std::size_t j = 0;
  float lo_s = HUGE_VALF, hi_s = -HUGE_VALF, bad_s = 0.0f;
  if (n >= kLanes) {
    // Four independent accumulators of each kind: one chain of vminps/vmaxps/FMA would cost its
    // latency (4 cycles) per vector. min and max are exact and the NaN test only asks whether any
    // x·0 is NaN, so the split changes no result.
    Reg const zero = V::zero();
    Reg lo_v[4], hi_v[4], bad_v[4];
#pragma GCC unroll 4
    for (int a = 0; a < 4; ++a) {
      lo_v[a] = V::load(x);
      hi_v[a] = lo_v[a];
      bad_v[a] = zero;
    }
    for (; j + 4 * kLanes <= n; j += 4 * kLanes) {
#pragma GCC unroll 4
      for (int a = 0; a < 4; ++a) {
        Reg const v = V::load(x + j + static_cast<std::size_t>(a) * kLanes);
        lo_v[a] = V::min(lo_v[a], v);
        hi_v[a] = V::max(hi_v[a], v);
        bad_v[a] = V::add(bad_v[a], V::mul(v, zero));
      }
    }
    for (; j + kLanes <= n; j += kLanes) {
      Reg const v = V::load(x + j);
      lo_v[0] = V::min(lo_v[0], v);
      hi_v[0] = V::max(hi_v[0], v);
      bad_v[0] = V::add(bad_v[0], V::mul(v, zero));
    }
    lo_s = V::reduce_min(V::min(V::min(lo_v[0], lo_v[1]), V::min(lo_v[2], lo_v[3])));
    hi_s = V::reduce_max(V::max(V::max(hi_v[0], hi_v[1]), V::max(hi_v[2], hi_v[3])));
    bad_s = V::reduce_any_nan(V::add(V::add(bad_v[0], bad_v[1]), V::add(bad_v[2], bad_v[3])))
                ? NAN
                : 0.0f;
  }
  for (; j < n; ++j) {
    float const v = x[j];
    lo_s = min_like_simd(lo_s, v);
    hi_s = max_like_simd(hi_s, v);
    bad_s = bad_s + v * 0.0f;
  }
  lo = lo_s;
  hi = hi_s;
  return !std::isnan(bad_s);
}

/// Quantizes one group x[0, n) with parameters p into fake-quant floats, packed int4 or bytes.
/// kPacked4 requires an even column offset and an even n (odd layouts go through act_group_odd).
template <class V, bool kAsym, ActMode kMode>
inline void act_group(float const* x, std::size_t n, QuantParams<float> p, Grid<float> const& g,
                      float* fake, std::uint8_t* codes) noexcept {
  using Reg = typename V::Reg;
  constexpr std::size_t kLanes = V::kLanes;
  Reg const scale = V::set1(p.scale), zero = V::set1(p.zero);
  Reg const qmin = V::set1(g.qmin), qmax = V::set1(g.qmax);
  // A vector division costs more than the rest of the kernel (vdivps). With r = RN(1/scale),
  // y = RN(x·r) and y + r·(x − y·scale) in FMAs is RN(x/scale) for normal x (Markstein); a
  // denormal x gives a quotient below 2⁻⁶⁰ either way, which rounds to the same code 0. Scales
  // outside [2⁻⁶⁴, 2⁶⁴] (rows of tiny or huge values) keep the division. The codes are those of
  // the division: 1.2·10⁹ (x, scale) pairs compared, and the scalar oracle divides.
  bool const reciprocal = p.scale >= 0x1p-64f && p.scale <= 0x1p64f;
  Reg const recip = V::set1(1.0f / p.scale);
  auto code = [&](Reg v) {
    Reg r = V::round_even(reciprocal ? V::div_by_reciprocal(v, scale, recip) : V::div(v, scale));
    if constexpr (kAsym) r = V::add(r, zero);
    return V::min(V::max(r, qmin), qmax);
  };
  std::size_t j = 0;
  if constexpr (kMode == ActMode::kPacked4) {
    for (; j + 2 * kLanes <= n; j += 2 * kLanes) {
      V::pack2(codes + j / 2, code(V::load(x + j)), code(V::load(x + j + kLanes)));
    }
    for (; j + 1 < n; j += 2) {
      codes[j / 2] = pack_nibbles(static_cast<int>(quantize_code(x[j], p, g)),
                                  static_cast<int>(quantize_code(x[j + 1], p, g)));
    }
  } else {
    for (; j + kLanes <= n; j += kLanes) {
      Reg const q = code(V::load(x + j));
      if constexpr (kMode == ActMode::kFake) {
        V::store(fake + j, kAsym ? V::mul(scale, V::sub(q, zero)) : V::mul(scale, q));
      } else {
        V::store_bytes(codes + j, q);
      }
    }
    for (; j < n; ++j) {
      float const q = quantize_code(x[j], p, g);
      if constexpr (kMode == ActMode::kFake) {
        fake[j] = dequantize_code(q, p, g);
      } else {
        codes[j] = static_cast<std::uint8_t>(static_cast<unsigned>(static_cast<int>(q)) & 0xFFu);
      }
    }
  }
}

/// Packed int4 for a group starting at column c0 of a row whose bytes begin at `row_codes`
/// (read-modify-write of nibbles; used when groups or rows have odd lengths).
inline void act_group_odd(float const* x, std::size_t c0, std::size_t n, QuantParams<float> p,
                          Grid<float> const& g, std::uint8_t* row_codes) noexcept {
  for (std::size_t j = 0; j < n; ++j) {
    std::size_t const c = c0 + j;
    unsigned const nib = static_cast<unsigned>(static_cast<int>(quantize_code(x[j], p, g))) & 0xFu;
    std::uint8_t& b = row_codes[c / 2];
    b = (c & 1) != 0 ? static_cast<std::uint8_t>((b & 0x0Fu) | (nib << 4))
                     : static_cast<std::uint8_t>((b & 0xF0u) | nib);
  }
}

/// Rows [0, n_rows) of x [· × n] (stride sx): per-row groups of `gs` columns; the range is
/// [min, max] of the group, with 0 forced into it when `include_zero` (per token, ALGORITHMS.md
/// §3.4; per-group ranges are not forced), times clip. Writes scales/zeros [n_rows × n/gs] (zeros
/// may be null for sym) and the chosen output. Returns the number of rows that contain a non-finite
/// value (their outputs are unspecified).
template <class V, bool kAsym, ActMode kMode>
inline std::size_t act_rows(float const* x, std::size_t n_rows, std::size_t n, std::size_t sx,
                            std::size_t gs, bool include_zero, float clip, Grid<float> const& g,
                            float* fake, std::size_t sfake, std::uint8_t* codes, std::size_t scodes,
                            float* scales, float* zeros) noexcept {
  std::size_t const n_groups = n / gs;
  std::size_t n_bad = 0;
  for (std::size_t r = 0; r < n_rows; ++r) {
    float const* xr = x + r * sx;
    bool finite = true;
    for (std::size_t k = 0; k < n_groups; ++k) {
      float lo = 0.0f, hi = 0.0f;
      finite = act_range<V>(xr + k * gs, gs, lo, hi) && finite;
      if (include_zero) {
        lo = min_like_simd(lo, 0.0f);
        hi = max_like_simd(hi, 0.0f);
      }
      QuantParams<float> const p = activation_params(lo * clip, hi * clip, g);
      scales[r * n_groups + k] = p.scale;
      if (zeros != nullptr) zeros[r * n_groups + k] = p.zero;
      if (!finite) continue;
      if constexpr (kMode == ActMode::kPacked4) {
        std::uint8_t* row_codes = codes + r * scodes;
        if (gs % 2 == 0) {
          act_group<V, kAsym, kMode>(xr + k * gs, gs, p, g, nullptr, row_codes + k * gs / 2);
        } else {
          if (k == 0) {
            for (std::size_t b = 0; b < (n + 1) / 2; ++b) row_codes[b] = 0;
          }
          act_group_odd(xr + k * gs, k * gs, gs, p, g, row_codes);
        }
      } else if constexpr (kMode == ActMode::kFake) {
        act_group<V, kAsym, kMode>(xr + k * gs, gs, p, g, fake + r * sfake + k * gs, nullptr);
      } else {
        act_group<V, kAsym, kMode>(xr + k * gs, gs, p, g, nullptr, codes + r * scodes + k * gs);
      }
    }
    if (!finite) ++n_bad;
  }
  return n_bad;
}

/// One token row x[0, n) quantized per token straight into the integer GEMM's operand: int8 codes
/// q + code_bias (code_bias −128 stores asymmetric 8-bit codes q ∈ [0, 255] as q − 128), its scale
/// and zero point, and Σ codes (with the bias) for the epilogue. The codes are those of act_rows
/// (quantize_code): with integer bounds, round(clamp(y)) = clamp(round(y)), and for an integer zero
/// point z with |z| ≤ 2²³, clamp(round(y) + z, qmin, qmax) = round(clamp(y, qmin − z, qmax − z)) + z
/// with exact bounds. So each vector is clamped in float, converted once (round to nearest even)
/// and offset in int32 — no separate rounding, no float add. Returns false when the row is not
/// finite (its codes are then unspecified, its sum 0).
template <class V, bool kAsym>
inline bool act_row_gemm(float const* x, std::size_t n, float clip, Grid<float> const& g,
                         int code_bias, std::int8_t* codes, float* scale_out, float* zero_out,
                         std::int32_t* sum_out) noexcept {
  using Reg = typename V::Reg;
  using IReg = typename V::IReg;
  constexpr std::size_t kLanes = V::kLanes;
  float lo = 0.0f, hi = 0.0f;
  bool const finite = act_range<V>(x, n, lo, hi);
  lo = min_like_simd(lo, 0.0f);  // per token: 0 is always in the range (ALGORITHMS.md §3.4)
  hi = max_like_simd(hi, 0.0f);
  QuantParams<float> const p = activation_params(lo * clip, hi * clip, g);
  *scale_out = p.scale;
  *zero_out = p.zero;
  *sum_out = 0;
  if (!finite) return false;
  // p.zero ∈ [0, qmax] here (0 is in the range), so the shifted bounds are exact.
  float const lo_b = kAsym ? g.qmin - p.zero : g.qmin;
  float const hi_b = kAsym ? g.qmax - p.zero : g.qmax;
  int const offset = (kAsym ? static_cast<int>(p.zero) : 0) + code_bias;
  bool const reciprocal = p.scale >= 0x1p-64f && p.scale <= 0x1p64f;  // as act_group
  Reg const scale = V::set1(p.scale), recip = V::set1(1.0f / p.scale);
  Reg const lo_v = V::set1(lo_b), hi_v = V::set1(hi_b);
  IReg const offset_v = V::iset1(offset);
  IReg sum0 = V::izero(), sum1 = V::izero();
  auto quotient = [&](Reg v) {
    return reciprocal ? V::div_by_reciprocal(v, scale, recip) : V::div(v, scale);
  };
  auto code = [&](Reg v) {
    IReg const q = V::cvt_round_even(V::min(V::max(quotient(v), lo_v), hi_v));
    return kAsym ? V::iadd(q, offset_v) : q;  // symmetric codes have no offset and no bias
  };
  std::size_t j = 0;
  std::int64_t block_sum = 0;
  // Blocks of four vectors clamp after the conversion instead, in int8: the saturating packs to
  // int16 and int8 and a byte min/max give clamp(round(y) + offset) because the code range lies
  // inside int8, and the byte sums come from one vpsadbw per 64 codes. That needs the unclamped
  // quotient to convert exactly: |y| ≤ qmax/clip (x is within the clipped range's 1/clip), far
  // below 2³⁰ for clip ≥ 2⁻¹⁰.
  if (clip >= 0x1p-10f && n >= 4 * kLanes) {
    auto const lo_c = V::bytes_set1(static_cast<int>(g.qmin) + code_bias);
    auto const hi_c = V::bytes_set1(static_cast<int>(g.qmax) + code_bias);
    auto acc = V::codes4_zero();
    auto unclamped = [&](Reg v) {
      IReg const q = V::cvt_round_even(quotient(v));
      return kAsym || code_bias != 0 ? V::iadd(q, offset_v) : q;
    };
    for (; j + 4 * kLanes <= n; j += 4 * kLanes) {
      V::store_codes4(codes + j, unclamped(V::load(x + j)), unclamped(V::load(x + j + kLanes)),
                      unclamped(V::load(x + j + 2 * kLanes)),
                      unclamped(V::load(x + j + 3 * kLanes)), lo_c, hi_c, acc);
    }
    block_sum = V::codes4_sum(acc, j);
  }
  for (; j + 2 * kLanes <= n; j += 2 * kLanes) {
    IReg const a = code(V::load(x + j));
    IReg const b = code(V::load(x + j + kLanes));
    V::store_codes(codes + j, a);
    V::store_codes(codes + j + kLanes, b);
    sum0 = V::iadd(sum0, a);
    sum1 = V::iadd(sum1, b);
  }
  std::int32_t sum = V::ireduce_add(V::iadd(sum0, sum1)) + static_cast<std::int32_t>(block_sum);
  for (; j < n; ++j) {
    int const c = static_cast<int>(quantize_code(x[j], p, g)) + code_bias;
    codes[j] = static_cast<std::int8_t>(c);
    sum += c;
  }
  *sum_out = sum;
  return true;
}
