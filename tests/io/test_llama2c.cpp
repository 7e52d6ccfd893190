// SPDX-License-Identifier: Apache-2.0
// llama2.c checkpoints (v0 from ../shared, v1/v2 written here from it) and tokenizer.bin.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/llama2c.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "io/io_test_util.hpp"
#include "support/test_util.hpp"

using dfrot::io::read_llama2c;
using dfrot::io::read_llama2c_tokenizer;
using dfrot::test::put;
using dfrot::test::TempDir;

namespace {

std::map<std::string, dfrot::io::Tensor> by_name(dfrot::io::Llama2cCheckpoint const& c) {
  std::map<std::string, dfrot::io::Tensor> m;
  for (auto const& [n, t] : c.tensors) m.emplace(n, t);
  return m;
}

// Writes a v1 (fp32) or v2 (int8, group 32) file with the layout of llama2.c's export.py:
// 256-byte header (magic, version, 7 x int32, shared flag, [group size]); norms (attention_norm of
// every layer, ffn_norm of every layer, norm); tok_embeddings, wq.., wk.., wv.., wo.., w1.., w2..,
// w3.. (grouped over layers).
std::vector<std::uint8_t> write_v1_v2(dfrot::io::Llama2cCheckpoint const& src, int version) {
  auto const& c = src.config;
  auto m = by_name(src);
  std::vector<std::uint8_t> out;
  put(out, std::uint32_t{0x616b3432u});
  put(out, std::int32_t{version});
  for (std::size_t v :
       {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len}) {
    put(out, static_cast<std::int32_t>(v));
  }
  out.push_back(1);  // shared classifier
  if (version == 2) put(out, std::int32_t{32});
  out.resize(256, 0);
  auto f32 = [&](std::string const& name) {
    for (float x : m.at(name).data) put(out, x);
  };
  auto q8 = [&](std::string const& name) {
    auto const& d = m.at(name).data;
    std::vector<float> scales;
    for (std::size_t g = 0; g < d.size(); g += 32) {
      float amax = 0;
      for (std::size_t i = g; i < g + 32; ++i) amax = std::max(amax, std::fabs(d[i]));
      float const s = amax / 127.0f;
      scales.push_back(s);
      for (std::size_t i = g; i < g + 32; ++i) {
        put(out, static_cast<std::int8_t>(s > 0 ? std::lround(d[i] / s) : 0));
      }
    }
    for (float s : scales) put(out, s);
  };
  auto layers = [&](char const* field) {
    std::vector<std::string> v;
    for (std::size_t l = 0; l < c.n_layers; ++l)
      v.push_back(dfrot::io::layer_tensor_name(l, field));
    return v;
  };
  for (auto const& n : layers("attention_norm")) f32(n);
  for (auto const& n : layers("ffn_norm")) f32(n);
  f32("norm");
  std::vector<std::string> weights{"tok_embeddings"};
  for (char const* f : {"attention.wq", "attention.wk", "attention.wv", "attention.wo",
                        "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"}) {
    for (auto const& n : layers(f)) weights.push_back(n);
  }
  for (auto const& n : weights) (version == 1 ? f32(n) : q8(n));
  return out;
}

}  // namespace

TEST_SUITE("io") {
  TEST_CASE("read_llama2c: stories260K legacy v0 header and tensors") {
    auto const shared = dfrot::test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared not found (set DFROT_SHARED_DIR)");
      return;
    }
    auto const ck = read_llama2c(shared / "models/stories260K/stories260K.bin");
    auto const& c = ck.config;
    CHECK(c.version == 0);
    CHECK(c.dim == 64);
    CHECK(c.hidden_dim == 172);
    CHECK(c.n_layers == 5);
    CHECK(c.n_heads == 8);
    CHECK(c.n_kv_heads == 4);
    CHECK(c.vocab_size == 512);
    CHECK(c.seq_len == 512);
    CHECK(c.shared_classifier);
    CHECK(ck.tensors.size() == 47);
    auto m = by_name(ck);
    CHECK(m.at("tok_embeddings").shape == std::vector<std::size_t>{512, 64});
    CHECK(m.at("layers.3.attention.wv").shape == std::vector<std::size_t>{32, 64});
    CHECK(m.at("layers.3.attention.wo").shape == std::vector<std::size_t>{64, 64});
    CHECK(m.at("layers.1.feed_forward.w2").shape == std::vector<std::size_t>{64, 172});
    // RMSNorm weights of a trained model are O(1) and positive-ish; embeddings are small.
    double sum = 0;
    for (float x : m.at("norm").data) sum += static_cast<double>(x);
    CHECK(sum / 64.0 > 0.1);
  }

  TEST_CASE("read_llama2c: v1 (fp32) and v2 (int8 groups) files hold the same model") {
    auto const shared = dfrot::test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared not found (set DFROT_SHARED_DIR)");
      return;
    }
    auto const v0 = read_llama2c(shared / "models/stories260K/stories260K.bin");
    TempDir dir("llama2c_v12");
    dfrot::test::write_bytes(dir / "v1.bin", write_v1_v2(v0, 1));
    dfrot::test::write_bytes(dir / "v2.bin", write_v1_v2(v0, 2));
    auto const v1 = read_llama2c(dir / "v1.bin");
    auto const v2 = read_llama2c(dir / "v2.bin");
    CHECK(v1.config.version == 1);
    CHECK(v2.config.version == 2);
    CHECK(v2.config.group_size == 32);
    auto m0 = by_name(v0), m1 = by_name(v1), m2 = by_name(v2);
    REQUIRE(m1.size() == m0.size());
    REQUIRE(m2.size() == m0.size());
    for (auto const& entry : m0) {
      auto const& name = entry.first;  // (not a structured binding: INFO captures it)
      auto const& t = entry.second;
      INFO(name);
      CHECK(m1.at(name).shape == t.shape);
      CHECK(m1.at(name).data == t.data);
      CHECK(m2.at(name).shape == t.shape);
      double err = 0, mag = 0;
      for (std::size_t i = 0; i < t.data.size(); ++i) {
        err = std::max(err, std::fabs(static_cast<double>(m2.at(name).data[i] - t.data[i])));
        mag = std::max(mag, std::fabs(static_cast<double>(t.data[i])));
      }
      CHECK(err <= mag / 127.0 * 0.5 + 1e-7);
    }
    // Through the canonical loader (no tokenizer next to the temp files).
    auto const ck = dfrot::io::load_llama_checkpoint(dir / "v2.bin");
    CHECK(ck.format == "llama2c-v2");
    CHECK_FALSE(ck.tokenizer.has_value());
  }

  TEST_CASE("read_llama2c: inconsistent headers and sizes throw FormatError") {
    auto const shared = dfrot::test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared not found (set DFROT_SHARED_DIR)");
      return;
    }
    auto const good = dfrot::test::read_bytes(shared / "models/stories260K/stories260K.bin");
    TempDir dir("llama2c_bad");
    auto expect = [&](std::vector<std::uint8_t> const& bytes, char const* needle) {
      dfrot::test::write_bytes(dir / "m.bin", bytes);
      CHECK_THROWS_WITH_AS(read_llama2c(dir / "m.bin"), doctest::Contains(needle),
                           dfrot::FormatError);
    };
    expect(std::vector<std::uint8_t>(good.begin(), good.end() - 4), "(truncated?)");
    auto longer = good;
    longer.push_back(0);
    expect(longer, "trailing bytes");
    auto bad = good;
    bad[12] = 7;  // n_heads = 7 does not divide dim 64
    expect(bad, "not a multiple of n_heads");
    bad = good;
    bad[0] = 0;  // dim = 0
    bad[1] = 0;
    expect(bad, "a size is zero or negative");
    std::vector<std::uint8_t> v9;
    put(v9, std::uint32_t{0x616b3432u});
    put(v9, std::int32_t{9});
    v9.resize(256, 0);
    expect(v9, "unsupported llama2.c version 9");
    expect({1, 2, 3}, "truncated");
  }

  TEST_CASE("read_llama2c_tokenizer: tok512.bin and the 32k LLaMA-2 vocabulary") {
    auto const shared = dfrot::test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared not found (set DFROT_SHARED_DIR)");
      return;
    }
    auto const v = read_llama2c_tokenizer(shared / "models/stories260K/tok512.bin", 512);
    CHECK(v.pieces.size() == 512);
    CHECK(v.pieces[0] == "<unk>");
    CHECK(v.pieces[1] == "\n<s>\n");
    CHECK(v.pieces[3] == "<0x00>");
    CHECK(v.pieces[403] == " Once");
    auto const tk = dfrot::io::tokenizer_from_llama2c(v);
    CHECK(tk.tokens[403] == "\xE2\x96\x81Once");
    CHECK(tk.tokens[1] == "<s>");
    CHECK(tk.token_types[1] == dfrot::io::kTokenControl);
    CHECK(tk.token_types[13] == dfrot::io::kTokenByte);
    CHECK(tk.bos_id == 1);
    CHECK(tk.eos_id == 2);
    CHECK(tk.unk_id == 0);
    CHECK_THROWS_WITH_AS(read_llama2c_tokenizer(shared / "models/stories260K/tok512.bin", 32000),
                         doctest::Contains("512 tokens but the model's vocab_size is 32000"),
                         dfrot::FormatError);
    auto const big = read_llama2c_tokenizer(shared / "models/llama2-tokenizer-32k/tokenizer.bin");
    CHECK(big.pieces.size() == 32000);

    TempDir dir("tok_bad");
    std::vector<std::uint8_t> bytes;
    put(bytes, std::int32_t{4});
    put(bytes, 0.0f);
    put(bytes, std::int32_t{9});  // longer than max_token_length
    bytes.resize(bytes.size() + 9, 'a');
    dfrot::test::write_bytes(dir / "t.bin", bytes);
    CHECK_THROWS_WITH_AS(read_llama2c_tokenizer(dir / "t.bin"),
                         doctest::Contains("token 0 at byte 8: length 9"), dfrot::FormatError);
  }
}
