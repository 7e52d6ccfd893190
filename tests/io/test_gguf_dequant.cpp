// SPDX-License-Identifier: Apache-2.0
// Dequantizers of gguf_dequant.hpp on hand-built blocks, checked against element-wise formulas
// written here from the block layouts (the encoders below build blocks from known values).
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>
#include <cstdint>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/gguf_dequant.hpp"
#include "io/io_test_util.hpp"

using dfrot::io::GgmlType;
using dfrot::test::put;
using dfrot::test::to_half;

namespace {

// Reference binary16 decoding straight from the definition.
double half_reference(std::uint16_t h) {
  int const sign = (h >> 15) ? -1 : 1;
  int const exp = (h >> 10) & 31;
  int const mant = h & 1023;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? std::numeric_limits<double>::quiet_NaN() : sign * HUGE_VAL;
  return sign * std::ldexp(1024 + mant, exp - 25);
}

std::span<std::byte const> as_bytes(std::vector<std::uint8_t> const& v) {
  return {reinterpret_cast<std::byte const*>(v.data()), v.size()};
}

std::vector<float> run(GgmlType t, std::vector<std::uint8_t> const& bytes, std::size_t n) {
  std::vector<float> out(n);
  dfrot::io::dequantize(t, as_bytes(bytes), out);
  return out;
}

void check_close(std::vector<float> const& got, std::vector<double> const& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(static_cast<double>(got[i]) == doctest::Approx(want[i]).epsilon(1e-6));
  }
}

std::uint32_t lcg(std::uint32_t& s) {
  s = s * 1664525u + 1013904223u;
  return s >> 8;
}

}  // namespace

TEST_SUITE("io") {
  TEST_CASE("fp16_to_fp32: every binary16 value matches the definition") {
    for (std::uint32_t h = 0; h < 65536; ++h) {
      float const got = dfrot::io::fp16_to_fp32(static_cast<std::uint16_t>(h));
      double const want = half_reference(static_cast<std::uint16_t>(h));
      if (std::isnan(want)) {
        CHECK(std::isnan(got));
      } else if (static_cast<double>(got) != want) {
        FAIL("half 0x" << std::hex << h << ": " << got << " vs " << want);
      }
    }
    CHECK(dfrot::io::fp16_to_fp32(0x3C00) == 1.0f);
    CHECK(std::signbit(dfrot::io::fp16_to_fp32(0x8000)));
    CHECK(dfrot::io::bf16_to_fp32(0x3F80) == 1.0f);
    CHECK(dfrot::io::bf16_to_fp32(0xC0A0) == -5.0f);
  }

  TEST_CASE("dequantize: F32, F16 and BF16 element by element") {
    std::vector<float> const v = {1.5f, -2.25f, 0.0f, 3.0e-5f, 65504.0f};
    std::vector<std::uint8_t> f32, f16, bf16;
    for (float x : v) {
      put(f32, x);
      put(f16, to_half(x));
      put(bf16, static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(x) >> 16));
    }
    CHECK(run(GgmlType::kF32, f32, v.size()) == v);
    std::vector<float> const h = run(GgmlType::kF16, f16, v.size());
    std::vector<float> const b = run(GgmlType::kBF16, bf16, v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      CHECK(static_cast<double>(h[i]) == half_reference(to_half(v[i])));
      CHECK(b[i] == std::bit_cast<float>(std::bit_cast<std::uint32_t>(v[i]) & 0xFFFF0000u));
    }
  }

  TEST_CASE("dequantize: Q8_0 blocks give d * q") {
    std::uint32_t s = 7;
    std::vector<std::uint8_t> bytes;
    std::vector<double> want;
    for (int blk = 0; blk < 3; ++blk) {
      std::uint16_t const d = to_half(0.01f * static_cast<float>(blk + 1));
      put(bytes, d);
      for (int i = 0; i < 32; ++i) {
        auto const q = static_cast<std::int8_t>(static_cast<int>(lcg(s) % 256) - 128);
        put(bytes, q);
        want.push_back(half_reference(d) * q);
      }
    }
    check_close(run(GgmlType::kQ8_0, bytes, 96), want);
  }

  TEST_CASE("dequantize: Q4_0 and Q4_1 nibble order (low nibbles first, then high)") {
    std::uint32_t s = 11;
    std::vector<std::uint8_t> b0, b1;
    std::vector<double> w0, w1;
    for (int blk = 0; blk < 2; ++blk) {
      std::uint16_t const d = to_half(0.125f + 0.5f * static_cast<float>(blk));
      std::uint16_t const m = to_half(-0.75f);
      std::array<int, 32> q{};
      for (int& x : q) x = static_cast<int>(lcg(s) % 16);
      put(b0, d);
      put(b1, d);
      put(b1, m);
      for (int j = 0; j < 16; ++j) {
        auto const byte = static_cast<std::uint8_t>(q[j] | (q[j + 16] << 4));
        b0.push_back(byte);
        b1.push_back(byte);
      }
      for (int j = 0; j < 32; ++j) {
        w0.push_back(half_reference(d) * (q[j] - 8));
        w1.push_back(half_reference(d) * q[j] + half_reference(m));
      }
    }
    check_close(run(GgmlType::kQ4_0, b0, 64), w0);
    check_close(run(GgmlType::kQ4_1, b1, 64), w1);
  }

  TEST_CASE("dequantize: Q4_K with 6-bit scales and mins packed into 12 bytes") {
    std::uint32_t s = 3;
    std::vector<std::uint8_t> bytes;
    std::vector<double> want;
    for (int blk = 0; blk < 2; ++blk) {
      std::uint16_t const d = to_half(0.02f * static_cast<float>(blk + 1));
      std::uint16_t const dmin = to_half(0.015f);
      std::array<int, 8> sc{}, mn{};
      for (int j = 0; j < 8; ++j) {
        sc[j] = static_cast<int>(lcg(s) % 64);
        mn[j] = static_cast<int>(lcg(s) % 64);
      }
      sc[7] = 63;  // exercise the top bits
      mn[4] = 63;
      std::array<int, 256> q{};
      for (int& x : q) x = static_cast<int>(lcg(s) % 16);
      put(bytes, d);
      put(bytes, dmin);
      // Encoder: bytes 0-3 = scale j (6 bits) | top 2 bits of scale j+4; bytes 4-7 = min j |
      // top 2 bits of min j+4; bytes 8-11 = low 4 bits of scale j+4 | low 4 bits of min j+4 << 4.
      for (int j = 0; j < 4; ++j)
        bytes.push_back(static_cast<std::uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6)));
      for (int j = 0; j < 4; ++j)
        bytes.push_back(static_cast<std::uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6)));
      for (int j = 0; j < 4; ++j)
        bytes.push_back(static_cast<std::uint8_t>((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4)));
      // qs: sub-blocks 2p (low nibble) and 2p+1 (high nibble) share bytes 32p..32p+31.
      for (int p = 0; p < 4; ++p) {
        for (int l = 0; l < 32; ++l) {
          bytes.push_back(static_cast<std::uint8_t>(q[64 * p + l] | (q[64 * p + 32 + l] << 4)));
        }
      }
      for (int e = 0; e < 256; ++e) {
        int const sub = e / 32;
        want.push_back(half_reference(d) * sc[sub] * q[e] - half_reference(dmin) * mn[sub]);
      }
    }
    REQUIRE(bytes.size() == 2 * 144);
    check_close(run(GgmlType::kQ4_K, bytes, 512), want);
  }

  TEST_CASE("dequantize: Q6_K with 4+2 bit quants and int8 scales per 16 elements") {
    std::uint32_t s = 5;
    std::vector<std::uint8_t> bytes;
    std::vector<double> want;
    for (int blk = 0; blk < 2; ++blk) {
      std::array<int, 256> q{};
      for (int& x : q) x = static_cast<int>(lcg(s) % 64);
      q[0] = 63;
      q[255] = 0;
      std::array<std::int8_t, 16> sc{};
      for (auto& x : sc) x = static_cast<std::int8_t>(static_cast<int>(lcg(s) % 256) - 128);
      std::uint16_t const d = to_half(-0.003f * static_cast<float>(blk + 1));
      std::array<std::uint8_t, 128> ql{};
      std::array<std::uint8_t, 64> qh{};
      // Encoder from the layout: element e = 128h + 32k + l (k < 4, l < 32) keeps its low 4 bits
      // in ql[64h + l + 32(k & 1)] (low nibble for k < 2, high for k >= 2) and its top 2 bits in
      // bits 2k, 2k+1 of qh[32h + l].
      for (int e = 0; e < 256; ++e) {
        int const h = e / 128, k = (e % 128) / 32, l = e % 32;
        ql[static_cast<std::size_t>(64 * h + l + 32 * (k & 1))] |=
            static_cast<std::uint8_t>((q[e] & 15) << (k >= 2 ? 4 : 0));
        qh[static_cast<std::size_t>(32 * h + l)] |=
            static_cast<std::uint8_t>((q[e] >> 4) << (2 * k));
      }
      bytes.insert(bytes.end(), ql.begin(), ql.end());
      bytes.insert(bytes.end(), qh.begin(), qh.end());
      for (auto x : sc) put(bytes, x);
      put(bytes, d);
      for (int e = 0; e < 256; ++e) want.push_back(half_reference(d) * sc[e / 16] * (q[e] - 32));
    }
    REQUIRE(bytes.size() == 2 * 210);
    check_close(run(GgmlType::kQ6_K, bytes, 512), want);
  }

  TEST_CASE("dequantize: unsupported types and size mismatches throw FormatError") {
    std::vector<std::uint8_t> bytes(176, 0);
    std::vector<float> out(256);
    CHECK_THROWS_WITH_AS(dfrot::io::dequantize(GgmlType::kQ5_K, as_bytes(bytes), out),
                         doctest::Contains("Q5_K"), dfrot::FormatError);
    std::vector<std::uint8_t> short_q8(33, 0);
    std::vector<float> out32(32);
    CHECK_THROWS_AS(dfrot::io::dequantize(GgmlType::kQ8_0, as_bytes(short_q8), out32),
                    dfrot::FormatError);
    std::vector<float> out31(31);
    CHECK_THROWS_AS(dfrot::io::dequantize(GgmlType::kQ8_0, as_bytes(short_q8), out31),
                    dfrot::FormatError);
    CHECK(dfrot::io::ggml_type_name(static_cast<GgmlType>(99)) == "type 99");
    CHECK(dfrot::io::ggml_row_bytes(GgmlType::kQ4_K, 512) == 288);
    CHECK(dfrot::io::ggml_row_bytes(GgmlType::kQ4_K, 100) == 0);
  }
}
