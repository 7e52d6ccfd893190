// SPDX-License-Identifier: Apache-2.0
// Non-power-of-two Hadamard matrices (Paley I/II, Sylvester doubling, Williamson), built once.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dfrot/core/error.hpp"

namespace dfrot::hadamard {

/// Orders K of the special (non-power-of-two) Hadamard matrices dfrot ships: the union of QuaRot,
/// SpinQuant (44) and DFRot (148).
inline constexpr std::array<std::size_t, 13> kSpecialOrders = {12, 20,  28,  36,  40,  44, 52,
                                                               60, 108, 140, 148, 156, 172};

/// True when special_hadamard(k) has a matrix of order k.
inline bool is_special_order(std::size_t k) {
  return std::find(kSpecialOrders.begin(), kSpecialOrders.end(), k) != kSpecialOrders.end();
}

namespace detail {

/// Row-major K×K matrix of ±1.
using SignMatrix = std::vector<std::int8_t>;

// Williamson sequences: first rows of four symmetric circulant ±1 matrices A, B, C, D of order n
// with A² + B² + C² + D² = 4n·I. Found for dfrot by an exhaustive meet-in-the-middle search over
// symmetric sequences (grouped by row sum, filtered by power spectral density ≤ 4n, matched on
// periodic autocorrelations); tests/hadamard/test_special_matrices.cpp verifies H·Hᵀ = 4n·I.
// n = 39, row sums −9, −5, −5, −5 (no multiplier symmetry beyond ±1 was found for this order).
inline constexpr std::array<std::string_view, 4> kWilliamson39 = {
    "+---+---+-++-++----++----++-++-+---+---",
    "++--+++-+--++-+----------+-++--+-+++--+",
    "+-++------++--+-+-++++-+-+--++------++-",
    "+---+--++++----+-+-++-+-+----++++--+---",
};
// n = 43, row sums −5, 7, 7, 7; each sequence is constant on the orbits of the multiplier group
// {±1, ±6, ±36} of Z_43, which is what made a 2^7-per-sequence search enough.
inline constexpr std::array<std::string_view, 4> kWilliamson43 = {
    "++---++++-+--+--++--------++--+--+-++++---+",
    "++-++++++----+-+--++-++-++--+-+----++++++-+",
    "+---++--++++-+-+++-++--++-+++-+-++++--++---",
    "+++-+-++--+-+-++++-+----+-++++-+-+--++-+-++",
};

/// True when every sequence has length n, only '+'/'-', and is symmetric (s[i] = s[n−i]).
constexpr bool valid_williamson(std::array<std::string_view, 4> const& rows, std::size_t n) {
  for (std::string_view row : rows) {
    if (row.size() != n) return false;
    for (std::size_t i = 0; i < n; ++i) {
      if (row[i] != '+' && row[i] != '-') return false;
      if (i > 0 && row[i] != row[n - i]) return false;
    }
  }
  return true;
}
static_assert(valid_williamson(kWilliamson39, 39));
static_assert(valid_williamson(kWilliamson43, 43));

/// Quadratic character of GF(q), q = p or p² (p an odd prime), indexed by element number:
/// element a + b·x (x² = r, r a non-residue mod p) has number a + p·b. Returns chi(z) ∈ {0, ±1}.
inline std::vector<int> quadratic_character(std::size_t q) {
  std::size_t p = 0;
  std::size_t degree = 0;
  for (std::size_t d = 2; d <= q; ++d) {
    if (q % d != 0) continue;
    p = d;  // smallest prime factor
    degree = q == d ? 1 : (q == d * d ? 2 : 0);
    break;
  }
  DFROT_THROW_IF(degree == 0, ShapeError, "quadratic_character: q = ", q, " is not p or p^2");
  std::size_t r = 0;  // the smallest non-residue mod p: GF(p)[x]/(x² − r) is then a field
  for (std::size_t c = 2; c < p && r == 0; ++c) {
    bool square = false;
    for (std::size_t y = 1; y < p; ++y) square = square || (y * y) % p == c;
    if (!square) r = c;
  }
  std::vector<int> chi(q, -1);
  chi[0] = 0;
  for (std::size_t z = 1; z < q; ++z) {
    std::size_t a = z % p;
    std::size_t b = z / p;  // 0 when degree == 1
    // (a + b·x)² = a² + r·b² + 2ab·x
    std::size_t sq = (a * a + r * b * b) % p + p * ((2 * a * b) % p);
    chi[sq] = 1;
  }
  return chi;
}

/// Jacobsthal matrix Q[a][b] = chi(a − b) over GF(q), q = p or p².
inline std::vector<int> jacobsthal(std::size_t q) {
  std::vector<int> const chi = quadratic_character(q);
  std::size_t p = 0;
  for (std::size_t d = 2; p == 0; ++d) p = q % d == 0 ? d : 0;
  std::vector<int> out(q * q);
  for (std::size_t u = 0; u < q; ++u) {
    for (std::size_t v = 0; v < q; ++v) {
      // Coordinate-wise subtraction mod p (a single coordinate when q is prime).
      std::size_t lo = (u % p + p - v % p) % p;
      std::size_t hi = (u / p + p - v / p) % p;
      out[u * q + v] = chi[lo + p * hi];
    }
  }
  return out;
}

/// Paley I (q ≡ 3 mod 4): H = I + S, S = [[0, jᵀ], [−j, Q]] skew, order q + 1.
inline SignMatrix paley_one(std::size_t q) {
  std::vector<int> const jac = jacobsthal(q);
  std::size_t const k = q + 1;
  SignMatrix h(k * k);
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = 0; j < k; ++j) {
      int s = 0;
      if (i == 0)
        s = j == 0 ? 0 : 1;
      else if (j == 0)
        s = -1;
      else
        s = jac[(i - 1) * q + (j - 1)];
      h[i * k + j] = static_cast<std::int8_t>(s + (i == j ? 1 : 0));
    }
  }
  return h;
}

/// Paley II (q ≡ 1 mod 4): C = [[0, jᵀ], [j, Q]] symmetric conference matrix,
/// H = C ⊗ [[1, 1], [1, −1]] + I ⊗ [[1, −1], [−1, −1]], order 2(q + 1).
inline SignMatrix paley_two(std::size_t q) {
  std::vector<int> const jac = jacobsthal(q);
  std::size_t const c = q + 1;
  std::size_t const k = 2 * c;
  constexpr int kPlus[2][2] = {{1, 1}, {1, -1}};
  constexpr int kDiag[2][2] = {{1, -1}, {-1, -1}};
  SignMatrix h(k * k);
  for (std::size_t i = 0; i < c; ++i) {
    for (std::size_t j = 0; j < c; ++j) {
      int const cij = (i == 0 || j == 0) ? (i == j ? 0 : 1) : jac[(i - 1) * q + (j - 1)];
      for (std::size_t u = 0; u < 2; ++u) {
        for (std::size_t v = 0; v < 2; ++v) {
          int const e = cij * kPlus[u][v] + (i == j ? kDiag[u][v] : 0);
          h[(2 * i + u) * k + (2 * j + v)] = static_cast<std::int8_t>(e);
        }
      }
    }
  }
  return h;
}

/// Sylvester doubling [[H, H], [H, −H]].
inline SignMatrix sylvester_double(SignMatrix const& h, std::size_t k) {
  std::size_t const k2 = 2 * k;
  SignMatrix out(k2 * k2);
  for (std::size_t i = 0; i < k2; ++i) {
    for (std::size_t j = 0; j < k2; ++j) {
      int const e = h[(i % k) * k + (j % k)];
      out[i * k2 + j] = static_cast<std::int8_t>(i >= k && j >= k ? -e : e);
    }
  }
  return out;
}

/// Williamson array [[A, B, C, D], [−B, A, −D, C], [−C, D, A, −B], [−D, −C, B, A]] of symmetric
/// circulants given by their first rows; order 4n.
inline SignMatrix williamson(std::array<std::string_view, 4> const& rows) {
  std::size_t const n = rows[0].size();
  std::size_t const k = 4 * n;
  // Block (r, c) holds sign · circulant(rows[which]).
  constexpr int kWhich[4][4] = {{0, 1, 2, 3}, {1, 0, 3, 2}, {2, 3, 0, 1}, {3, 2, 1, 0}};
  constexpr int kSign[4][4] = {{1, 1, 1, 1}, {-1, 1, -1, 1}, {-1, 1, 1, -1}, {-1, -1, 1, 1}};
  SignMatrix h(k * k);
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = 0; j < k; ++j) {
      std::size_t const br = i / n;
      std::size_t const bc = j / n;
      std::string_view const row = rows[static_cast<std::size_t>(kWhich[br][bc])];
      int const e = row[(j % n + n - i % n) % n] == '+' ? 1 : -1;
      h[i * k + j] = static_cast<std::int8_t>(kSign[br][bc] * e);
    }
  }
  return h;
}

/// Construction of each order, parallel to kSpecialOrders.
inline constexpr std::array<std::string_view, 13> kConstructions = {
    "Paley I, q = 11",
    "Paley I, q = 19",
    "Paley II, q = 13",
    "Paley II, q = 17",
    "Sylvester doubling [[H, H], [H, -H]] of the order-20 Paley I matrix (q = 19)",
    "Paley I, q = 43",
    "Paley II, q = 25 (GF(25) = GF(5)[x]/(x^2 - 2))",
    "Paley I, q = 59",
    "Paley I, q = 107",
    "Paley I, q = 139",
    "Paley II, q = 73",
    "Williamson array, n = 39 (symmetric circulants, row sums -9, -5, -5, -5)",
    "Williamson array, n = 43 (symmetric circulants, row sums -5, 7, 7, 7)",
};

inline SignMatrix build_special(std::size_t k) {
  switch (k) {
    case 12:
      return paley_one(11);
    case 20:
      return paley_one(19);
    case 28:
      return paley_two(13);
    case 36:
      return paley_two(17);
    case 40:
      return sylvester_double(paley_one(19), 20);
    case 44:
      return paley_one(43);
    case 52:
      return paley_two(25);
    case 60:
      return paley_one(59);
    case 108:
      return paley_one(107);
    case 140:
      return paley_one(139);
    case 148:
      return paley_two(73);
    case 156:
      return williamson(kWilliamson39);
    case 172:
      return williamson(kWilliamson43);
    default:
      return {};
  }
}

/// Index of k in kSpecialOrders; throws ShapeError naming k and the supported orders otherwise.
inline std::size_t special_index(std::size_t k, std::string_view where) {
  auto const it = std::find(kSpecialOrders.begin(), kSpecialOrders.end(), k);
  if (it == kSpecialOrders.end()) {
    std::string list;
    for (std::size_t order : kSpecialOrders)
      list += (list.empty() ? "" : ", ") + std::to_string(order);
    throw ShapeError(str_cat(where, ": no special Hadamard matrix of this order: expected one of ",
                             list, " vs k = ", k));
  }
  return static_cast<std::size_t>(it - kSpecialOrders.begin());
}

}  // namespace detail

/// The K×K matrix with ±1 entries, row-major, built once (thread-safe static) and cached.
/// Throws dfrot::ShapeError (naming k and listing the supported orders) for other k.
inline std::span<std::int8_t const> special_hadamard(std::size_t k) {
  std::size_t const index = detail::special_index(k, "special_hadamard");
  // All orders together are ~120 KB and build in well under a millisecond, so one static suffices.
  static std::array<detail::SignMatrix, kSpecialOrders.size()> const kTable = [] {
    std::array<detail::SignMatrix, kSpecialOrders.size()> table;
    for (std::size_t i = 0; i < kSpecialOrders.size(); ++i)
      table[i] = detail::build_special(kSpecialOrders[i]);
    return table;
  }();
  return kTable[index];
}

/// One-line description of the construction used for order k (e.g. "Paley I, q = 11").
/// Throws dfrot::ShapeError for orders outside kSpecialOrders.
inline std::string_view special_hadamard_construction(std::size_t k) {
  return detail::kConstructions[detail::special_index(k, "special_hadamard_construction")];
}

}  // namespace dfrot::hadamard
