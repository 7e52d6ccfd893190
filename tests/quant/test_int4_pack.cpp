// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/quant/int4_pack.hpp"
#include "dfrot/quant/quantized_tensor.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::quant;

TEST_SUITE("quant") {
  TEST_CASE("pack_nibbles: low nibble is the even column, two's complement for negatives") {
    CHECK(pack_nibbles(1, 2) == 0x21);
    CHECK(pack_nibbles(-1, 0) == 0x0F);
    CHECK(pack_nibbles(-8, 7) == 0x78);
    CHECK(pack_nibbles(15, 0) == 0x0F);
    CHECK(unpack_signed_nibble(0x78, false) == -8);
    CHECK(unpack_signed_nibble(0x78, true) == 7);
    CHECK(unpack_unsigned_nibble(0xF3, true) == 15);
    CHECK(unpack_unsigned_nibble(0xF3, false) == 3);
  }

  TEST_CASE("pack_int4: round trip for signed and unsigned codes, odd widths, strided rows") {
    Rng rng(test::seed());
    for (std::size_t n : {1u, 2u, 7u, 64u, 129u}) {
      for (bool is_signed : {true, false}) {
        CAPTURE(n);
        std::size_t const rows = 3, stride = n + 5, pstride = packed_row_bytes(n) + 2;
        std::vector<std::int8_t> codes(rows * stride, 0), back(rows * stride, 0);
        for (auto& c : codes)
          c = static_cast<std::int8_t>(is_signed ? static_cast<int>(rng.uniform_int(16)) - 8
                                                 : static_cast<int>(rng.uniform_int(16)));
        std::vector<std::uint8_t> packed(rows * pstride, 0xAA);
        pack_int4(MatrixView<std::int8_t const>(codes.data(), rows, n, stride),
                  MatrixView<std::uint8_t>(packed.data(), rows, packed_row_bytes(n), pstride));
        unpack_int4(
            MatrixView<std::uint8_t const>(packed.data(), rows, packed_row_bytes(n), pstride),
            MatrixView<std::int8_t>(back.data(), rows, n, stride), is_signed);
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t c = 0; c < n; ++c) CHECK(back[r * stride + c] == codes[r * stride + c]);
        if (n % 2 == 1) CHECK((packed[packed_row_bytes(n) - 1] >> 4) == 0);  // padding nibble
      }
    }
  }

  TEST_CASE("pack_int4_row: too small output is a ShapeError") {
    std::vector<std::int8_t> codes(5, 1);
    std::vector<std::uint8_t> packed(2);
    CHECK_THROWS_AS(pack_int4_row(codes, packed), ShapeError);
  }

  TEST_CASE("QuantizedTensor: set_code/code round trip for packed and byte storage") {
    for (int bits : {4, 8}) {
      for (Symmetry s : {Symmetry::kSym, Symmetry::kAsym}) {
        auto t = QuantizedTensor::allocate(bits, s, 2, 5, 5);
        int const lo = s == Symmetry::kSym ? -(1 << (bits - 1)) : 0;
        int const hi = s == Symmetry::kSym ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
        for (std::size_t r = 0; r < 2; ++r)
          for (std::size_t c = 0; c < 5; ++c)
            t.set_code(r, c, c % 2 ? lo : hi - static_cast<int>(r));
        for (std::size_t r = 0; r < 2; ++r)
          for (std::size_t c = 0; c < 5; ++c)
            CHECK(t.code(r, c) == (c % 2 ? lo : hi - static_cast<int>(r)));
      }
    }
  }
}
