// SPDX-License-Identifier: Apache-2.0
// The MSE clip search's error kernel (quant/cpu/clip_kernels.hpp): bit-identical on every ISA
// level, accurate against a long double power, and the search's choice optimal to 10⁻⁷.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/quant/rtn.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::quant;

namespace {

bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

/// Σ |scale·(q − zero) − x|^norm with std::pow in long double, each difference rounded once to T
/// as the kernel rounds it (its FMA): the accuracy reference of the power and the sum.
template <class T>
long double exact_error(std::vector<T> const& x, QuantParams<T> p, Grid<T> const& g, double norm) {
  long double sum = 0;
  for (T const v : x) {
    long double const q = static_cast<long double>(quantize_code(v, p, g));
    long double const d = static_cast<long double>(p.scale) * (q - static_cast<long double>(p.zero)) -
                          static_cast<long double>(v);
    sum += std::pow(std::fabs(static_cast<long double>(static_cast<T>(d))),
                    static_cast<long double>(norm));
  }
  return sum;
}

/// Weights with the cases the kernel must get right: zeros, exact grid points, denormals, outliers.
template <class T>
std::vector<T> clip_row(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<T> x(n);
  for (auto& v : x) v = static_cast<T>(rng.normal() * 0.02);
  for (std::size_t j = 0; j < n; j += 7) x[j] = T(0);
  for (std::size_t j = 3; j < n; j += 11) x[j] = static_cast<T>(0.01 * static_cast<double>(j % 5));
  if (n > 5) x[5] = std::numeric_limits<T>::denorm_min() * T(3);
  if (n > 9) x[9] = T(0.4);
  return x;
}

}  // namespace

TEST_SUITE("quant") {
  TEST_CASE("clip_error: every ISA level returns the scalar level's double bit for bit") {
    auto check = [](auto tag) {
      using T = decltype(tag);
      for (std::size_t n : {1u, 3u, 15u, 16u, 17u, 63u, 64u, 65u, 200u, 4095u, 4096u}) {
        auto const x = clip_row<T>(n, 11 + n);
        for (Symmetry s : {Symmetry::kSym, Symmetry::kAsym}) {
          auto const g = make_grid<T>(4, s);
          for (double norm : {2.4, 2.0, 3.0, 0.5}) {
            for (int i : {0, 17, 79}) {
              T const scale = static_cast<T>(0.4 * (1.0 - i / 100.0) / (s == Symmetry::kSym ? 7 : 15));
              QuantParams<T> const p{scale, s == Symmetry::kSym ? T(0) : T(7)};
              double ref = 0, ref_bounded = 0;
              {
                ScopedIsa scalar(Isa::kScalar);
                ref = clip_error<T>(x, p, g, norm);
                ref_bounded = clip_error<T>(x, p, g, norm, ref * 0.5);
              }
              CAPTURE(n);
              CAPTURE(norm);
              CHECK(std::isfinite(ref));
              CHECK(ref_bounded >= ref * 0.5);
              test::for_each_isa([&](Isa isa) {
                CAPTURE(to_string(isa));
                CHECK(same_double(clip_error<T>(x, p, g, norm), ref));
                CHECK(same_double(clip_error<T>(x, p, g, norm, ref * 0.5), ref_bounded));
              });
              long double const exact = exact_error(x, p, g, norm);
              CHECK(std::fabs(static_cast<long double>(ref) - exact) <= 1e-8L * exact);
            }
          }
        }
      }
    };
    check(0.0f);
    check(0.0);
  }

  TEST_CASE("clip_error: each term is the power to 3e-9 relative, zero stays zero, overflow saturates") {
    auto const g = make_grid<float>(4, Symmetry::kSym);
    QuantParams<float> const huge{3e38f, 0.0f};  // every |x| < 1.5e38 has code 0: the error is |x|
    test::for_each_isa([&](Isa isa) {
      CAPTURE(to_string(isa));
      double worst = 0;
      for (int ex = -149; ex <= 124; ++ex) {
        for (float m : {1.0f, 1.0000001f, 1.3f, 1.41421354f, 1.41421366f, 1.7f, 1.9999999f}) {
          float const e = std::ldexp(m, ex);
          if (!(e > 0.0f)) continue;
          for (double norm : {0.5, 1.0, 2.4, 3.0, 4.0}) {
            long double const ref = std::pow(static_cast<long double>(e), static_cast<long double>(norm));
            if (ref < 0x1p-1021L || ref > 0x1p1022L) continue;
            std::vector<float> const one{-e};
            double const got = clip_error<float>(one, huge, g, norm);
            worst = std::max(worst, static_cast<double>(std::fabs((static_cast<long double>(got) - ref) / ref)));
          }
        }
      }
      CHECK(worst < 3e-9);
      std::vector<float> const zeros(40, 0.0f);
      CHECK(clip_error<float>(zeros, {0.1f, 0.0f}, g, 2.4) == 0.0);
      std::vector<float> const big{1e38f};
      CHECK(clip_error<float>(big, huge, g, 16.0) == HUGE_VAL);      // 2^(16·126) overflows
      std::vector<float> const tiny{1e-44f};
      CHECK(clip_error<float>(tiny, huge, g, 16.0) == 0.0);          // below 2⁻¹⁰²²: counted as 0
    });
  }

  TEST_CASE("weight_group_params: the clip search's choice is optimal to 1e-7 on the exact error") {
    auto const g = make_grid<float>(4, Symmetry::kSym);
    ClipSearchConfig clip;
    clip.enabled = true;
    for (std::uint64_t seed = 0; seed < 40; ++seed) {
      auto const x = clip_row<float>(256, 1000 + seed);
      auto const p = weight_group_params<float>(x, g, 1.0f, clip);
      // The exact error of every candidate (the same candidate scales as the search).
      float const m = 0.4f;
      long double best = HUGE_VALL;
      for (int i = 0; i < 80; ++i) {
        float const pi = static_cast<float>(1.0 - static_cast<double>(i) / 100.0);
        best = std::min(best, exact_error<float>(x, {(pi * m) / g.maxq, 0.0f}, g, 2.4));
      }
      CAPTURE(seed);
      CHECK(exact_error<float>(x, p, g, 2.4) <= best * (1 + 1e-7L));
    }
  }
}
