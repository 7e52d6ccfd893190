// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <filesystem>
#include <vector>

#include "dfrot/io/gguf.hpp"
#include "dfrot/io/gguf_writer.hpp"
#include "io/io_test_util.hpp"

using namespace dfrot;

TEST_SUITE("io") {
  TEST_CASE("gguf writer: metadata of every written type and F32 tensors read back exactly") {
    test::TempDir dir("gguf_writer");
    io::GgufWriter w;
    w.set("general.architecture", io::gguf_string("llama"));
    w.set("a.u32", io::gguf_u32(4000000000u));
    w.set("a.i32", io::gguf_i32(-7));
    w.set("a.u64", io::gguf_u64(1ull << 40));
    w.set("a.f32", io::gguf_f32(0.95));
    w.set("a.f64", io::gguf_f64(0.1));
    w.set("a.bool", io::gguf_bool(true));
    w.set("a.strings", io::gguf_string_array({"x", "", "y z"}));
    std::vector<float> const scores = {0.5f, -1.25f};
    w.set("a.floats", io::gguf_f32_array(scores));
    std::vector<int> const ids = {1, -2, 3};
    w.set("a.ints", io::gguf_i32_array(ids));
    w.set("a.i32", io::gguf_i32(-8));  // replaces, keeps position
    std::vector<float> const m = {1, 2, 3, 4, 5, 6};
    std::vector<float> const v = {7, 8, 9};
    w.add_f32_tensor("m", {2, 3}, m);
    w.add_f32_tensor("v", {3}, v);
    CHECK_THROWS_AS(w.add_f32_tensor("m", {2, 3}, m), ShapeError);
    CHECK_THROWS_AS(w.add_f32_tensor("bad", {2, 2}, m), ShapeError);
    w.write(dir / "out.gguf", 64);

    io::GgufFile const f(dir / "out.gguf");
    CHECK(f.version() == 3);
    CHECK(f.alignment() == 64);
    CHECK(f.get_string("general.architecture") == "llama");
    CHECK(f.get_uint("a.u32") == 4000000000u);
    CHECK(f.get_int("a.i32") == -8);
    CHECK(f.get_uint("a.u64") == (1ull << 40));
    CHECK(f.get_float("a.f32") == doctest::Approx(0.95).epsilon(1e-7));
    CHECK(f.get_float("a.f64") == 0.1);
    CHECK(f.get_bool("a.bool"));
    CHECK(f.get_string_array("a.strings") == std::vector<std::string>{"x", "", "y z"});
    CHECK(f.get_float_array("a.floats") == std::vector<double>{0.5, -1.25});
    CHECK(f.get_int_array("a.ints") == std::vector<std::int64_t>{1, -2, 3});
    io::GgufTensorInfo const& tm = f.tensor("m");
    CHECK(tm.shape() == std::vector<std::size_t>{2, 3});  // row-major shape, ggml dims reversed
    CHECK(f.read_f32(tm) == m);
    CHECK(f.read_f32(f.tensor("v")) == v);
    CHECK(f.metadata()[0].first == "general.alignment");
  }

  TEST_CASE("gguf writer: an unwritable path is an IoError naming it") {
    io::GgufWriter w;
    CHECK_THROWS_WITH_AS(w.write("/nonexistent-dir/x.gguf"),
                         doctest::Contains("/nonexistent-dir/x.gguf"), IoError);
  }

  TEST_CASE("gguf stream writer: the same bytes as write(), tensor order and sizes enforced") {
    test::TempDir dir("gguf_stream");
    io::GgufWriter w;
    w.set("general.architecture", io::gguf_string("llama"));
    w.set("a.n", io::gguf_u32(7));
    std::vector<float> const a = {1, 2, 3, 4, 5, 6};
    std::vector<std::int32_t> const b = {-1, 2, -3};
    std::vector<std::uint16_t> const h = {0x3c00, 0xbc00, 0x0000, 0x7bff, 0x0001};
    w.add_f32_tensor("a", {2, 3}, a);
    w.add_tensor("b", {3}, io::GgmlType::kI32, std::as_bytes(std::span<std::int32_t const>(b)));
    w.add_tensor("h", {5}, io::GgmlType::kF16, std::as_bytes(std::span<std::uint16_t const>(h)));
    w.write(dir / "whole.gguf");

    std::vector<io::GgufTensorSpec> const specs = {
        {"a", {2, 3}, io::GgmlType::kF32}, {"b", {3}, io::GgmlType::kI32}, {"h", {5}, io::GgmlType::kF16}};
    {
      io::GgufStreamWriter s = w.stream(dir / "streamed.gguf", specs);
      CHECK(s.written() == 0);
      CHECK_THROWS_WITH_AS(s.append("b", std::as_bytes(std::span<std::int32_t const>(b))),
                           doctest::Contains("out of order"), UsageError);
      CHECK_THROWS_WITH_AS(s.append("a", std::as_bytes(std::span<float const>(a).first(5))),
                           doctest::Contains("declared shape"), ShapeError);
      s.append("a", std::as_bytes(std::span<float const>(a)));
      CHECK(s.has("a"));
      CHECK_FALSE(s.has("b"));
      CHECK_THROWS_AS(s.commit(), UsageError);  // two tensors missing
      s.append("b", std::as_bytes(std::span<std::int32_t const>(b)));
      s.append("h", std::as_bytes(std::span<std::uint16_t const>(h)));
      s.commit();
      CHECK(s.file_bytes() == std::filesystem::file_size(dir / "streamed.gguf"));
    }
    CHECK(test::read_bytes(dir / "streamed.gguf") == test::read_bytes(dir / "whole.gguf"));
    CHECK_FALSE(std::filesystem::exists(dir / "streamed.gguf.partial"));
    std::vector<io::GgufTensorSpec> twice = specs;
    twice[1].name = "a";
    CHECK_THROWS_AS(w.stream(dir / "x.gguf", twice), ShapeError);
    CHECK_THROWS_AS(w.stream(dir / "x.gguf", {{"q", {2, 48}, io::GgmlType::kQ8_0}}), ShapeError);  // 1.5 blocks
    CHECK(io::GgufTensorSpec{"q", {2, 64}, io::GgmlType::kQ8_0}.bytes() == 4 * 34);
    CHECK_THROWS_AS(w.stream(dir / "x.gguf", {{"u", {4}, static_cast<io::GgmlType>(99)}}), UsageError);
  }

  TEST_CASE("gguf stream writer: resume keeps the complete tensors of a partial file and rejects another header") {
    test::TempDir dir("gguf_resume");
    io::GgufWriter w;
    w.set("general.architecture", io::gguf_string("llama"));
    std::vector<float> const a(40, 1.5f), b(24, -2.0f), c(8, 3.0f);
    std::vector<io::GgufTensorSpec> const specs = {
        {"a", {40}, io::GgmlType::kF32}, {"b", {4, 6}, io::GgmlType::kF32}, {"c", {8}, io::GgmlType::kF32}};
    auto bytes = [](std::vector<float> const& v) { return std::as_bytes(std::span<float const>(v)); };
    auto const whole = dir / "whole.gguf";
    {
      io::GgufStreamWriter s = w.stream(whole, specs);
      s.append("a", bytes(a));
      s.append("b", bytes(b));
      s.append("c", bytes(c));
      s.commit();
    }
    std::vector<std::uint8_t> const expect = test::read_bytes(whole);
    auto const out = dir / "out.gguf";
    auto const partial = dir / "out.gguf.partial";
    // Every cut point: inside the header (restart), inside a tensor or its padding (torn), between.
    for (std::size_t cut = 1; cut < expect.size(); cut += 7) {
      CAPTURE(cut);
      test::write_bytes(partial, std::vector<std::uint8_t>(expect.begin(), expect.begin() + static_cast<std::ptrdiff_t>(cut)));
      io::GgufStreamWriter s = w.stream(out, specs, /*resume=*/true);
      for (auto const& [name, data] : {std::pair{"a", &a}, std::pair{"b", &b}, std::pair{"c", &c}})
        if (!s.has(name)) s.append(name, bytes(*data));
      s.commit();
      REQUIRE(test::read_bytes(out) == expect);
    }
    {  // rewind_to: a tensor written again
      io::GgufStreamWriter s = w.stream(out, specs);
      s.append("a", bytes(a));
      s.append("b", bytes(b));
      s.rewind_to(s.index_of("b"));
      CHECK(s.written() == 1);
      s.append("b", bytes(b));
      s.append("c", bytes(c));
      s.commit();
      CHECK(test::read_bytes(out) == expect);
    }
    test::write_bytes(partial, expect);
    io::GgufWriter other = w;
    other.set("general.name", io::gguf_string("another run"));
    CHECK_THROWS_WITH_AS(other.stream(out, specs, true), doctest::Contains("other metadata"), FormatError);
    {  // without resume a stale partial file is started again
      io::GgufStreamWriter s = other.stream(out, specs);
      CHECK(s.written() == 0);
    }
  }
}
