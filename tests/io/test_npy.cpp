// SPDX-License-Identifier: Apache-2.0
// NumPy .npy: numpy's exact v1.0 header, round trips, hand-built v2.0 / '<f4' / Fortran-order
// files, and every malformed case raising the right error type.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/npy.hpp"
#include "io/io_test_util.hpp"

using namespace dfrot;
using dfrot::test::put;
using dfrot::test::read_bytes;
using dfrot::test::TempDir;
using dfrot::test::write_bytes;

namespace {

/// A .npy image built by hand (independent of the writer): magic, version, header length (2 bytes
/// for v1, 4 for v2/v3), the header text padded to a multiple of 64 with '\n', then `payload`.
std::vector<std::uint8_t> npy_image(int major, std::string const& dict,
                                    std::vector<std::uint8_t> const& payload) {
  std::vector<std::uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', std::uint8_t(major), 0};
  std::size_t const prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  if (major == 1) {
    put(out, static_cast<std::uint16_t>(header.size()));
  } else {
    put(out, static_cast<std::uint32_t>(header.size()));
  }
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<std::uint8_t> f8(std::vector<double> const& v) {
  std::vector<std::uint8_t> out;
  for (double x : v) put(out, x);
  return out;
}

}  // namespace

TEST_SUITE("io") {
  TEST_CASE("npy: written header is numpy's byte for byte") {
    TempDir dir("npy");
    std::vector<double> data(12);
    for (std::size_t i = 0; i < 12; ++i) data[i] = 0.5 * double(i) - 1.0;
    std::size_t const shape[2] = {3, 4};
    io::write_npy(dir / "a.npy", shape, data);
    std::vector<std::uint8_t> const bytes = read_bytes(dir / "a.npy");
    std::string const dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }";
    // np.save of a (3, 4) float64 array: 128-byte header, header length 118 = 'v'.
    REQUIRE(bytes.size() == 128 + 12 * 8);
    CHECK(std::memcmp(bytes.data(), "\x93NUMPY\x01\x00\x76\x00", 10) == 0);
    CHECK(std::string(bytes.begin() + 10, bytes.begin() + 10 + long(dict.size())) == dict);
    for (std::size_t i = 10 + dict.size(); i < 127; ++i) CHECK(bytes[i] == ' ');
    CHECK(bytes[127] == '\n');
    CHECK(bytes == npy_image(1, dict, f8(data)));
    // 1-d and 0-d shapes are written as Python tuples "(5,)" and "()".
    std::size_t const s1[1] = {5};
    io::write_npy(dir / "b.npy", s1, std::vector<double>(5, 1.0));
    std::vector<std::uint8_t> const b = read_bytes(dir / "b.npy");
    CHECK(std::string(b.begin() + 10, b.begin() + 70).find("'shape': (5,), }") != std::string::npos);
    CHECK((b.size() - 5 * 8) % 64 == 0);
    io::write_npy(dir / "c.npy", std::span<std::size_t const>{}, std::vector<double>{3.0});
    io::NpyArray const c = io::read_npy(dir / "c.npy");
    CHECK(c.shape.empty());
    CHECK(c.data == std::vector<double>{3.0});
  }

  TEST_CASE("npy: matrix and stack round trips are exact") {
    TempDir dir("npy");
    Eigen::MatrixXd m(5, 3);
    for (Eigen::Index i = 0; i < 5; ++i)
      for (Eigen::Index j = 0; j < 3; ++j) m(i, j) = std::sin(double(7 * i + j)) / 3.0;
    io::write_npy_matrix(dir / "m.npy", m);
    CHECK(io::read_npy_matrix(dir / "m.npy") == m);
    CHECK(io::read_npy_matrix(dir / "m.npy", 5, 3) == m);
    CHECK(io::read_npy_matrix(dir / "m.npy", 0, 3) == m);
    io::NpyArray const raw = io::read_npy(dir / "m.npy");
    CHECK(raw.shape == std::vector<std::size_t>{5, 3});
    CHECK(raw.data[1] == m(0, 1));  // C order

    std::vector<Eigen::MatrixXd> stack;
    for (int l = 0; l < 3; ++l) stack.push_back(Eigen::MatrixXd::Random(4, 4));
    io::write_npy_stack(dir / "r2.npy", stack);
    auto const back = io::read_npy_stack(dir / "r2.npy", 3, 4);
    REQUIRE(back.size() == 3);
    for (int l = 0; l < 3; ++l) CHECK(back[std::size_t(l)] == stack[std::size_t(l)]);
    CHECK(io::read_npy(dir / "r2.npy").shape == std::vector<std::size_t>{3, 4, 4});
  }

  TEST_CASE("npy: version 2.0 and 3.0 headers, float32 data, Fortran order") {
    TempDir dir("npy");
    std::vector<double> const v = {1, 2, 3, 4, 5, 6};
    for (int major : {2, 3}) {
      write_bytes(dir / "v.npy",
                  npy_image(major, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
                            f8(v)));
      Eigen::MatrixXd const m = io::read_npy_matrix(dir / "v.npy", 2, 3);
      CHECK(m(0, 2) == 3.0);
      CHECK(m(1, 0) == 4.0);
    }
    std::vector<std::uint8_t> f4;
    for (float x : {0.25f, -1.5f, 3.0e-8f, 7.0f}) put(f4, x);
    write_bytes(dir / "f4.npy",
                npy_image(1, "{\"descr\": \"<f4\", \"shape\": (4,), \"fortran_order\": False}", f4));
    io::NpyArray const a = io::read_npy(dir / "f4.npy");
    CHECK(a.data == std::vector<double>{0.25, -1.5, double(3.0e-8f), 7.0});

    // Fortran order: element (i, j) at offset i + 2 j; m = [[1, 2, 3], [4, 5, 6]].
    write_bytes(dir / "f.npy",
                npy_image(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
                          f8({1, 4, 2, 5, 3, 6})));
    Eigen::MatrixXd const m = io::read_npy_matrix(dir / "f.npy");
    Eigen::MatrixXd expected(2, 3);
    expected << 1, 2, 3, 4, 5, 6;
    CHECK(m == expected);
    // 3-d Fortran: element (i, j, k) of shape (2, 3, 2) at i + 2 j + 6 k; value = 100i + 10j + k.
    std::vector<double> fortran(12);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j)
        for (int k = 0; k < 2; ++k) fortran[std::size_t(i + 2 * j + 6 * k)] = 100 * i + 10 * j + k;
    write_bytes(dir / "f3.npy",
                npy_image(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3, 2), }",
                          f8(fortran)));
    io::NpyArray const f3 = io::read_npy(dir / "f3.npy");
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j)
        for (int k = 0; k < 2; ++k) CHECK(f3.data[std::size_t(6 * i + 2 * j + k)] == 100 * i + 10 * j + k);
  }

  TEST_CASE("npy: malformed files raise FormatError / ShapeError / NumericError / IoError") {
    TempDir dir("npy");
    std::string const good = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }";
    std::vector<std::uint8_t> const payload = f8({1, 0, 0, 1});
    auto const path = dir / "x.npy";
    auto const write = [&](std::vector<std::uint8_t> const& b) { write_bytes(path, b); };
    auto const throws_format = [&](std::vector<std::uint8_t> const& b, char const* what) {
      CAPTURE(what);
      write(b);
      CHECK_THROWS_AS(io::read_npy(path), FormatError);
    };
    write(npy_image(1, good, payload));
    CHECK(io::read_npy_matrix(path, 2, 2) == Eigen::MatrixXd::Identity(2, 2));

    auto bad_magic = npy_image(1, good, payload);
    bad_magic[1] = 'X';
    throws_format(bad_magic, "bad magic");
    auto bad_version = npy_image(1, good, payload);
    bad_version[6] = 4;
    throws_format(bad_version, "version 4.0");
    auto const full = npy_image(1, good, payload);
    throws_format(std::vector<std::uint8_t>(full.begin(), full.begin() + 9),
                  "truncated before the header length");
    throws_format(std::vector<std::uint8_t>(full.begin(), full.begin() + 60), "truncated header");
    throws_format(std::vector<std::uint8_t>(full.begin(), full.end() - 1), "truncated data");
    auto trailing = full;
    trailing.push_back(0);
    throws_format(trailing, "trailing bytes");
    throws_format({}, "empty file");
    for (char const* descr : {">f8", "<i4", "<c16", "<f2", "|u1", "<U4"}) {
      throws_format(npy_image(1, str_cat("{'descr': '", descr,
                                         "', 'fortran_order': False, 'shape': (2, 2), }"),
                              payload),
                    descr);
    }
    for (char const* dict : {
             "{'descr': '<f8', 'fortran_order': False}",                            // no shape
             "{'descr': '<f8', 'fortran_order': Maybe, 'shape': (2, 2), }",         // bad bool
             "{'descr': '<f8', 'fortran_order': False, 'shape': (2, -2), }",        // negative
             "{'descr': '<f8', 'fortran_order': False, 'shape': [2, 2], }",         // list
             "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), 'x': 1}",   // extra key
             "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2) ",           // no '}'
             "'descr': '<f8', 'fortran_order': False, 'shape': (2, 2)}",            // no '{'
             "{'descr': '<f8, 'fortran_order': False, 'shape': (2, 2), }",          // quote
             "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 2)}",
         }) {
      throws_format(npy_image(1, dict, payload), dict);
    }
    // The message names the file and the problem.
    write(npy_image(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2, 2), }", payload));
    try {
      io::read_npy(path);
      FAIL("expected FormatError");
    } catch (FormatError const& e) {
      std::string const msg = e.what();
      CHECK(msg.find("x.npy") != std::string::npos);
      CHECK(msg.find("big-endian") != std::string::npos);
    }

    // Shape checks of the matrix / stack readers.
    write(npy_image(1, good, payload));
    CHECK_THROWS_AS(io::read_npy_matrix(path, 3, 3), ShapeError);
    CHECK_THROWS_AS(io::read_npy_matrix(path, 0, 3), ShapeError);
    CHECK_THROWS_AS(io::read_npy_stack(path), ShapeError);  // 2-d, not a stack
    write(npy_image(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", payload));
    CHECK_THROWS_AS(io::read_npy_matrix(path), ShapeError);
    write(npy_image(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 2), }", payload));
    CHECK(io::read_npy_stack(path, 1, 2).size() == 1);
    CHECK_THROWS_AS(io::read_npy_stack(path, 2, 2), ShapeError);
    CHECK_THROWS_AS(io::read_npy_stack(path, 1, 3), ShapeError);
    write(npy_image(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1, 2), }", payload));
    CHECK_THROWS_AS(io::read_npy_stack(path), ShapeError);  // not square

    // NaN / Inf in a rotation.
    double const nan = std::numeric_limits<double>::quiet_NaN();
    double const inf = std::numeric_limits<double>::infinity();
    write(npy_image(1, good, f8({1, 0, nan, 1})));
    CHECK(std::isnan(io::read_npy(path).data[2]));  // the raw reader keeps the values
    CHECK_THROWS_AS(io::read_npy_matrix(path), NumericError);
    write(npy_image(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 2), }",
                    f8({1, 0, 0, inf})));
    CHECK_THROWS_AS(io::read_npy_stack(path), NumericError);

    // Files that cannot be opened or written.
    CHECK_THROWS_AS(io::read_npy(dir / "missing.npy"), IoError);
    CHECK_THROWS_AS(io::write_npy_matrix(dir / "no_such_dir" / "m.npy", Eigen::MatrixXd::Identity(2, 2)),
                    IoError);
    std::size_t const shape[2] = {2, 3};
    CHECK_THROWS_AS(io::write_npy(dir / "bad.npy", shape, std::vector<double>(5)), ShapeError);
  }

  TEST_CASE("npy: an empty shape parses to an empty array (found by fuzz_npy: memcpy from null)") {
    std::vector<std::size_t> const shape = {0, 52};
    std::vector<std::byte> const bytes = io::encode_npy(shape, std::span<double const>());
    io::NpyArray const a = io::parse_npy(bytes, "empty.npy");
    CHECK(a.shape == shape);
    CHECK(a.data.empty());
  }
}
