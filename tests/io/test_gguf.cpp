// SPDX-License-Identifier: Apache-2.0
// GgufFile: metadata and tensors of the stories260K fixture, every metadata type through a
// hand-written file, and malformed headers.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/gguf.hpp"
#include "dfrot/io/llama2c.hpp"
#include "io/io_test_util.hpp"
#include "support/test_util.hpp"

using dfrot::io::GgmlType;
using dfrot::io::GgufFile;
using dfrot::io::GgufType;
using dfrot::test::GgufWriter;
using dfrot::test::put;
using dfrot::test::TempDir;

TEST_SUITE("io") {
  TEST_CASE("GgufFile: stories260K fixture metadata and tensor table") {
    auto const shared = dfrot::test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared not found (set DFROT_SHARED_DIR)");
      return;
    }
    GgufFile f(shared / "fixtures/stories260K-f32.gguf");
    CHECK(f.version() == 3);
    CHECK(f.alignment() == 32);
    CHECK(f.metadata().size() == 19);
    CHECK(f.tensors().size() == 48);
    CHECK(f.get_string("general.architecture") == "llama");
    CHECK(f.get_uint("llama.embedding_length") == 64);
    CHECK(f.get_uint("llama.feed_forward_length") == 172);
    CHECK(f.get_uint("llama.block_count") == 5);
    CHECK(f.get_uint("llama.attention.head_count") == 8);
    CHECK(f.get_uint("llama.attention.head_count_kv") == 4);
    CHECK(f.get_uint("llama.context_length") == 128);
    CHECK(f.get_float("llama.attention.layer_norm_rms_epsilon") == doctest::Approx(1e-5));
    CHECK(f.get_int("tokenizer.ggml.padding_token_id") == -1);  // uint32 0xFFFFFFFF = none
    auto const tokens = f.get_string_array("tokenizer.ggml.tokens");
    REQUIRE(tokens.size() == 512);
    CHECK(tokens[1] == "<s>");
    CHECK(tokens[13] == "<0x0A>");
    CHECK(f.get_float_array("tokenizer.ggml.scores").size() == 512);
    CHECK(f.get_array("tokenizer.ggml.token_type").type == GgufType::kInt32);
    auto const& embd = f.tensor("token_embd.weight");
    CHECK(embd.dims == std::vector<std::uint64_t>{64, 512});
    CHECK(embd.shape() == std::vector<std::size_t>{512, 64});
    CHECK(embd.type == GgmlType::kF32);
    CHECK(f.tensor("blk.0.ffn_down.weight").shape() == std::vector<std::size_t>{64, 172});
    CHECK(f.find_tensor("nope") == nullptr);
    CHECK_THROWS_WITH_AS(f.tensor("nope"), doctest::Contains("tensor 'nope' is missing"),
                         dfrot::FormatError);
    CHECK_THROWS_WITH_AS(f.get_uint("general.name"), doctest::Contains("expected an integer"),
                         dfrot::FormatError);
    CHECK_THROWS_WITH_AS(f.get_string("missing.key"), doctest::Contains("'missing.key' is missing"),
                         dfrot::FormatError);
  }

  TEST_CASE("GgufFile: a fixture tensor equals the same tensor of stories260K.bin exactly") {
    auto const shared = dfrot::test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared not found (set DFROT_SHARED_DIR)");
      return;
    }
    GgufFile f(shared / "fixtures/stories260K-f32.gguf");
    auto const ref = dfrot::io::read_llama2c(shared / "models/stories260K/stories260K.bin");
    auto find = [&](std::string const& name) -> dfrot::io::Tensor const& {
      for (auto const& [n, t] : ref.tensors) {
        if (n == name) return t;
      }
      FAIL("missing " << name);
      return ref.tensors.front().second;
    };
    auto const q = f.read_f32(f.tensor("blk.2.attn_q.weight"));
    CHECK(q == find("layers.2.attention.wq").data);
    auto const down = f.read_f32(f.tensor("blk.4.ffn_down.weight"));
    CHECK(down == find("layers.4.feed_forward.w2").data);
    CHECK(f.read_f32(f.tensor("token_embd.weight")) == find("tok_embeddings").data);
  }

  TEST_CASE("GgufFile: every metadata value type, alignment and F16/BF16/Q8_0 tensors") {
    TempDir dir("gguf_types");
    GgufWriter w;
    w.add_raw("u8", 0, {200});
    w.add_raw("i8", 1, {0xFE});
    w.add_raw("u16", 2, {0x34, 0x12});
    w.add_raw("i16", 3, {0xFF, 0xFF});
    w.add_u32("u32", 4000000000u);
    w.add_i32("i32", -7);
    w.add_f32("f32", 0.25f);
    w.add_bool("flag", true);
    w.add_string("name", "h\xC3\xA9llo");
    std::vector<std::uint8_t> u64, i64, f64;
    put(u64, std::uint64_t{1} << 40);
    put(i64, std::int64_t{-5});
    put(f64, 2.5);
    w.add_raw("u64", 10, u64);
    w.add_raw("i64", 11, i64);
    w.add_raw("f64", 12, f64);
    w.add_string_array("strs", {"a", "", "ccc"});
    w.add_f32_array("floats", {1.0f, -2.0f});
    // array of 2 arrays of int32: [[1, 2], [3]]
    std::vector<std::uint8_t> nested;
    put(nested, std::uint32_t{9});
    put(nested, std::uint64_t{2});
    put(nested, std::uint32_t{5});
    put(nested, std::uint64_t{2});
    put(nested, std::int32_t{1});
    put(nested, std::int32_t{2});
    put(nested, std::uint32_t{5});
    put(nested, std::uint64_t{1});
    put(nested, std::int32_t{3});
    w.add_raw("nested", 9, nested);
    w.add_u32("general.alignment", 64);
    std::vector<std::uint8_t> f16, bf16, q8;
    for (float x : {1.0f, -0.5f, 3.0f, 0.0f}) put(f16, dfrot::test::to_half(x));
    for (std::uint16_t b : {0x3F80, 0x4000, 0xBF00, 0x0000}) put(bf16, b);
    put(q8, dfrot::test::to_half(0.5f));
    for (int i = 0; i < 32; ++i) put(q8, static_cast<std::int8_t>(i - 16));
    w.add_tensor("half", {2, 2}, 1, f16);
    w.add_tensor("brain", {4}, 30, bf16);
    w.add_tensor("q8", {32, 1}, 8, q8);
    dfrot::test::write_bytes(dir / "t.gguf", w.build(64));

    GgufFile f(dir / "t.gguf");
    CHECK(f.alignment() == 64);
    CHECK(f.data_offset() % 64 == 0);
    CHECK(f.get_uint("u8") == 200);
    CHECK(f.get_int("i8") == -2);
    CHECK(f.get_uint("u16") == 0x1234);
    CHECK(f.get_int("i16") == -1);
    CHECK(f.get_uint("u32") == 4000000000u);
    CHECK(f.get_int("i32") == -7);
    CHECK(f.get_float("f32") == 0.25);
    CHECK(f.get_bool("flag"));
    CHECK(f.get_string("name") == "h\xC3\xA9llo");
    CHECK(f.get_uint("u64") == (std::uint64_t{1} << 40));
    CHECK(f.get_int("i64") == -5);
    CHECK(f.get_float("f64") == 2.5);
    CHECK(f.find("u64")->type == GgufType::kUint64);
    CHECK(f.get_string_array("strs") == std::vector<std::string>{"a", "", "ccc"});
    CHECK(f.get_float_array("floats") == std::vector<double>{1.0, -2.0});
    auto const& outer = f.get_array("nested");
    REQUIRE(outer.items.size() == 2);
    CHECK(outer.type == GgufType::kArray);
    auto const& inner0 = std::get<dfrot::io::GgufArray>(outer.items[0].value);
    CHECK(inner0.items.size() == 2);
    CHECK(std::get<std::int64_t>(inner0.items[1].value) == 2);
    CHECK_THROWS_WITH_AS(f.get_uint("i32"), doctest::Contains("negative"), dfrot::FormatError);
    CHECK(f.get_uint_or("absent", 9) == 9);
    CHECK(f.read_f32(f.tensor("half")) == std::vector<float>{1.0f, -0.5f, 3.0f, 0.0f});
    CHECK(f.read_f32(f.tensor("brain")) == std::vector<float>{1.0f, 2.0f, -0.5f, 0.0f});
    auto const q = f.read_f32(f.tensor("q8"));
    REQUIRE(q.size() == 32);
    CHECK(q[0] == -8.0f);
    CHECK(q[31] == 7.5f);
    for (auto const& t : f.tensors()) CHECK((f.data_offset() + t.offset) % 64 == 0);
  }

  TEST_CASE("GgufFile: malformed files throw FormatError naming file, field and problem") {
    TempDir dir("gguf_bad");
    auto expect = [&](std::vector<std::uint8_t> const& bytes, char const* needle) {
      dfrot::test::write_bytes(dir / "bad.gguf", bytes);
      CHECK_THROWS_WITH_AS(GgufFile(dir / "bad.gguf"), doctest::Contains(needle),
                           dfrot::FormatError);
      try {
        GgufFile g(dir / "bad.gguf");
      } catch (dfrot::FormatError const& e) {
        CHECK(std::string(e.what()).find("bad.gguf") != std::string::npos);
      }
    };
    GgufWriter ok;
    ok.add_string("general.architecture", "llama");
    ok.add_f32_tensor("blk.3.attn_q.weight", {8, 4}, dfrot::test::test_values(32, 1));
    auto const good = ok.build();
    { GgufFile f((dfrot::test::write_bytes(dir / "ok.gguf", good), dir / "ok.gguf")); }

    auto bad = good;
    bad[0] = 'X';
    expect(bad, "bad magic");
    bad = good;
    bad[4] = 1;
    expect(bad, "version 1 is not supported");
    bad = good;
    bad[4] = 0;
    bad[7] = 3;
    expect(bad, "big-endian");
    // Truncated inside the data: the tensor runs past the end.
    expect(std::vector<std::uint8_t>(good.begin(), good.end() - 16),
           "tensor 'blk.3.attn_q.weight' ends at byte");
    // Truncated inside the metadata.
    expect(std::vector<std::uint8_t>(good.begin(), good.begin() + 30), "truncated");

    {  // String length far beyond the file.
      GgufWriter w;
      std::vector<std::uint8_t> p;
      put(p, std::uint64_t{1} << 60);
      w.add_raw("s", 8, p);
      expect(w.build(), "string length");
    }
    {  // Array count far beyond the file.
      GgufWriter w;
      std::vector<std::uint8_t> p;
      put(p, std::uint32_t{4});
      put(p, std::uint64_t{1} << 58);
      w.add_raw("arr", 9, p);
      expect(w.build(), "array of");
    }
    {  // Unknown value type.
      GgufWriter w;
      w.add_raw("x", 77, {0, 0, 0, 0});
      expect(w.build(), "unknown value type 77");
    }
    {  // Duplicate key.
      GgufWriter w;
      w.add_u32("k", 1);
      w.add_u32("k", 2);
      expect(w.build(), "appears twice");
    }
    {  // Bad alignment value.
      GgufWriter w;
      w.add_u32("general.alignment", 48);
      expect(w.build(), "not a power of two");
    }
    {  // Five dimensions.
      GgufWriter w;
      w.add_f32_tensor("t", {1, 1, 1, 1, 1}, {1.0f});
      expect(w.build(), "5 dimensions");
    }
    {  // Q8_0 rows must be whole blocks.
      GgufWriter w;
      w.add_tensor("q", {16}, 8, std::vector<std::uint8_t>(34, 0));
      expect(w.build(), "not a multiple of the Q8_0 block size");
    }
    {  // Offset not aligned.
      // The tensor's offset field is the last 8 bytes before the padding of the info section.
      GgufWriter w;
      w.add_f32_tensor("t", {4}, {1, 2, 3, 4});
      auto bytes = w.build();
      // Locate the offset: header 24 bytes + name (8 + 1) + n_dims 4 + dims 8 + type 4.
      std::size_t const at = 24 + 9 + 4 + 8 + 4;
      bytes[at] = 4;
      expect(bytes, "not a multiple of the alignment");
    }
    {  // Unsupported tensor type is reported when read, with file and tensor name.
      GgufWriter w;
      w.add_tensor("blk.0.ffn_up.weight", {256}, 13, std::vector<std::uint8_t>(176, 0));
      dfrot::test::write_bytes(dir / "q5k.gguf", w.build());
      GgufFile f(dir / "q5k.gguf");
      CHECK_THROWS_WITH_AS(f.read_f32(f.tensors().front()),
                           doctest::Contains("tensor 'blk.0.ffn_up.weight': unsupported type Q5_K"),
                           dfrot::FormatError);
    }
    CHECK_THROWS_WITH_AS(GgufFile(dir / "does_not_exist.gguf"),
                         doctest::Contains("does_not_exist.gguf"), dfrot::IoError);
  }
}
