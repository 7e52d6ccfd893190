// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

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
}
