// SPDX-License-Identifier: Apache-2.0
// Tests of the special (non-power-of-two) Hadamard matrices: ±1 entries and H·Hᵀ = K·I.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "dfrot/core/error.hpp"
#include "dfrot/hadamard/special_matrices.hpp"

namespace {

using dfrot::hadamard::kSpecialOrders;
using dfrot::hadamard::special_hadamard;

/// Number of entries of H·Hᵀ − K·I that are nonzero (exact integer arithmetic).
std::size_t gram_defects(std::span<std::int8_t const> h, std::size_t k) {
  std::size_t defects = 0;
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = i; j < k; ++j) {
      long dot = 0;
      for (std::size_t c = 0; c < k; ++c) dot += long{h[i * k + c]} * long{h[j * k + c]};
      if (dot != (i == j ? static_cast<long>(k) : 0L)) ++defects;
    }
  }
  return defects;
}

}  // namespace

TEST_SUITE("hadamard") {
  TEST_CASE("special_hadamard: entries are ±1 and the size is K·K") {
    for (std::size_t k : kSpecialOrders) {
      CAPTURE(k);
      auto const h = special_hadamard(k);
      REQUIRE(h.size() == k * k);
      std::size_t bad = 0;
      for (std::int8_t e : h) bad += (e == 1 || e == -1) ? 0 : 1;
      CHECK(bad == 0);
    }
  }

  TEST_CASE("special_hadamard: H·Hᵀ = K·I for every order") {
    for (std::size_t k : kSpecialOrders) {
      CAPTURE(k);
      CAPTURE(dfrot::hadamard::special_hadamard_construction(k));
      CHECK(gram_defects(special_hadamard(k), k) == 0);
    }
  }

  TEST_CASE("special_hadamard: every order has a construction string") {
    for (std::size_t k : kSpecialOrders) {
      CAPTURE(k);
      CHECK(dfrot::hadamard::is_special_order(k));
      CHECK_FALSE(dfrot::hadamard::special_hadamard_construction(k).empty());
    }
  }

  TEST_CASE("special_hadamard: the matrix is cached") {
    for (std::size_t k : kSpecialOrders) {
      CAPTURE(k);
      CHECK(special_hadamard(k).data() == special_hadamard(k).data());
    }
  }

  TEST_CASE("special_hadamard: 40 is the Sylvester doubling of 20") {
    auto const h20 = special_hadamard(20);
    auto const h40 = special_hadamard(40);
    REQUIRE(h40.size() == 40u * 40u);
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < 40; ++i) {
      for (std::size_t j = 0; j < 40; ++j) {
        int const e = h20[(i % 20) * 20 + (j % 20)];
        int const want = (i >= 20 && j >= 20) ? -e : e;
        mismatches += h40[i * 40 + j] == want ? 0 : 1;
      }
    }
    CHECK(mismatches == 0);
  }

  TEST_CASE("special_hadamard: other orders are rejected") {
    for (std::size_t k :
         {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{4}, std::size_t{16},
          std::size_t{24}, std::size_t{100}, std::size_t{128}, std::size_t{164}}) {
      CAPTURE(k);
      CHECK_FALSE(dfrot::hadamard::is_special_order(k));
    }
    bool threw = false;
    try {
      (void)special_hadamard(24);
    } catch (dfrot::ShapeError const& e) {
      threw = true;
      std::string const what = e.what();
      CHECK(what.find("24") != std::string::npos);
      CHECK(what.find("172") != std::string::npos);  // lists the supported orders
    }
    CHECK(threw);
    CHECK_THROWS_AS((void)dfrot::hadamard::special_hadamard_construction(24), dfrot::ShapeError);
  }
}
