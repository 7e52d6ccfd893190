// SPDX-License-Identifier: Apache-2.0
// Corrupted copies of real files (cut at many offsets, bytes flipped at many offsets) must load or
// throw a dfrot::Error subclass: never crash, never read out of bounds (run under ASan in CI),
// never leak another exception type.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/gguf.hpp"
#include "dfrot/io/llama2c.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "io/io_test_util.hpp"
#include "support/test_util.hpp"

using dfrot::test::TempDir;

namespace {

struct Outcome {
  int loaded = 0;
  int rejected = 0;
};

// Runs `load`; a dfrot::Error counts as a rejection, any other exception fails the test.
void attempt(std::function<void()> const& load, std::string const& what, Outcome& out) {
  try {
    load();
    ++out.loaded;
  } catch (dfrot::Error const&) {
    ++out.rejected;
  } catch (std::exception const& e) {
    FAIL(what << ": threw a non-dfrot exception: " << e.what());
  }
}

void patch(std::filesystem::path const& p, std::size_t offset, std::uint8_t value) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(value));
}

// Offsets: every byte of [0, dense), then every `step`-th byte to `end`, then `tail` spread ones.
std::vector<std::size_t> offsets(std::size_t dense, std::size_t step, std::size_t end,
                                 std::size_t size, std::size_t tail) {
  std::vector<std::size_t> v;
  for (std::size_t i = 0; i < std::min(dense, size); ++i) v.push_back(i);
  for (std::size_t i = dense; i < std::min(end, size); i += step) v.push_back(i);
  for (std::size_t k = 0; k < tail && size > end; ++k) v.push_back(end + (size - end) * k / tail);
  return v;
}

// Cuts `src` at every offset and flips bytes (xor with a pseudo-random non-zero mask) at every
// offset; `load(path)` must load or throw dfrot::Error.
Outcome torture(std::filesystem::path const& src, std::string const& name, TempDir const& dir,
                std::vector<std::size_t> const& cut_at, std::vector<std::size_t> const& flip_at,
                std::function<void(std::filesystem::path const&)> const& load,
                std::function<void()> const& before_each = {}) {
  auto const bytes = dfrot::test::read_bytes(src);
  std::filesystem::path const p = dir / name;
  Outcome out;
  for (std::size_t n : cut_at) {
    if (before_each) before_each();
    dfrot::test::write_bytes(p, bytes, n);
    attempt([&] { load(p); }, name + " cut at " + std::to_string(n), out);
  }
  dfrot::test::write_bytes(p, bytes);
  std::uint32_t s = static_cast<std::uint32_t>(dfrot::test::seed());
  for (std::size_t at : flip_at) {
    if (at >= bytes.size()) continue;
    s = s * 1664525u + 1013904223u;
    auto const mask = static_cast<std::uint8_t>(((s >> 24) & 0xFF) | 1u);
    patch(p, at, static_cast<std::uint8_t>(bytes[at] ^ mask));
    if (before_each) before_each();
    attempt([&] { load(p); }, name + " flipped at " + std::to_string(at), out);
    patch(p, at, bytes[at]);
  }
  return out;
}

}  // namespace

TEST_SUITE("io") {
  TEST_CASE("corruption: GGUF fixture cut and bit-flipped") {
    auto const shared = dfrot::test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared not found (set DFROT_SHARED_DIR)");
      return;
    }
    auto const src = shared / "fixtures/stories260K-f32.gguf";
    std::size_t const size = std::filesystem::file_size(src);
    std::size_t const header_end = dfrot::io::GgufFile(src).data_offset();
    TempDir dir("corrupt_gguf");
    auto const cuts = offsets(96, 41, header_end + 64, size, 8);
    auto const flips = offsets(96, 13, header_end, size, 40);
    Outcome const o = torture(src, "m.gguf", dir, cuts, flips,
                              [](auto const& p) { (void)dfrot::io::load_llama_checkpoint(p); });
    MESSAGE("gguf: " << o.loaded << " loaded, " << o.rejected << " rejected");
    CHECK(o.rejected >= static_cast<int>(cuts.size()) - 1);  // every cut short of the end fails
  }

  TEST_CASE("corruption: llama2.c checkpoint and tokenizer.bin cut and bit-flipped") {
    auto const shared = dfrot::test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared not found (set DFROT_SHARED_DIR)");
      return;
    }
    TempDir dir("corrupt_llama2c");
    auto const model = shared / "models/stories260K/stories260K.bin";
    auto const tok = shared / "models/stories260K/tok512.bin";
    std::size_t const msize = std::filesystem::file_size(model);
    // Model alone (no tokenizer next to it).
    Outcome const a = torture(model, "stories.bin", dir, offsets(64, 20011, msize, msize, 8),
                              offsets(64, 4999, msize, msize, 16),
                              [](auto const& p) { (void)dfrot::io::load_llama_checkpoint(p); });
    // Tokenizer: directly, and found next to an intact model by the canonical loader.
    std::size_t const tsize = std::filesystem::file_size(tok);
    auto const tcuts = offsets(64, 29, tsize, tsize, 0);
    auto const tflips = offsets(64, 11, tsize, tsize, 0);
    Outcome const b = torture(tok, "tok512.bin", dir, tcuts, tflips, [](auto const& p) {
      (void)dfrot::io::read_llama2c_tokenizer(p, 512);
    });
    std::filesystem::copy_file(model, dir / "m.bin");
    Outcome const c = torture(
        tok, "tok512.bin", dir, offsets(0, 97, tsize, tsize, 0), offsets(0, 53, tsize, tsize, 0),
        [&](auto const&) { (void)dfrot::io::load_llama_checkpoint(dir / "m.bin"); });
    MESSAGE("llama2c: " << a.loaded << "/" << a.rejected << ", tokenizer: " << b.loaded << "/"
                        << b.rejected << ", model+tokenizer: " << c.loaded << "/" << c.rejected);
    CHECK(a.rejected > 0);
    CHECK(b.rejected > 0);
  }

  TEST_CASE("corruption: safetensors and config.json cut and bit-flipped") {
    TempDir src_dir("corrupt_st_src");
    // A tiny single-file HF checkpoint (2 heads, head_dim 4, hidden 8, 1 layer) written here.
    std::string const config =
        R"({"model_type":"llama","hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,)"
        R"("num_key_value_heads":1,"intermediate_size":16,"vocab_size":8,"tie_word_embeddings":true})";
    struct Spec {
      char const* name;
      std::vector<std::size_t> shape;
    };
    std::vector<Spec> const specs = {{"model.embed_tokens.weight", {8, 8}},
                                     {"model.norm.weight", {8}},
                                     {"model.layers.0.input_layernorm.weight", {8}},
                                     {"model.layers.0.post_attention_layernorm.weight", {8}},
                                     {"model.layers.0.self_attn.q_proj.weight", {8, 8}},
                                     {"model.layers.0.self_attn.k_proj.weight", {4, 8}},
                                     {"model.layers.0.self_attn.v_proj.weight", {4, 8}},
                                     {"model.layers.0.self_attn.o_proj.weight", {8, 8}},
                                     {"model.layers.0.mlp.gate_proj.weight", {16, 8}},
                                     {"model.layers.0.mlp.down_proj.weight", {8, 16}},
                                     {"model.layers.0.mlp.up_proj.weight", {16, 8}}};
    std::string header = "{";
    std::vector<std::uint8_t> data;
    std::uint32_t seed = 1;
    for (auto const& s : specs) {
      std::size_t n = 1;
      for (auto d : s.shape) n *= d;
      std::size_t const begin = data.size();
      for (float x : dfrot::test::test_values(n, seed++)) dfrot::test::put(data, x);
      header += std::string(header.size() > 1 ? "," : "") + "\"" + s.name +
                "\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string(s.shape[0]) +
                (s.shape.size() > 1 ? "," + std::to_string(s.shape[1]) : "") +
                "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) +
                "]}";
    }
    header += "}";
    std::vector<std::uint8_t> file;
    dfrot::test::put(file, static_cast<std::uint64_t>(header.size()));
    file.insert(file.end(), header.begin(), header.end());
    file.insert(file.end(), data.begin(), data.end());
    dfrot::test::write_bytes(src_dir / "model.safetensors", file);
    dfrot::test::write_text(src_dir / "config.json", config);
    REQUIRE(dfrot::io::load_llama_checkpoint(src_dir.path()).tensors.size() == 11);

    TempDir dir("corrupt_st");
    dfrot::test::write_text(dir / "config.json", config);
    std::size_t const hend = 8 + header.size();
    Outcome const a = torture(
        src_dir / "model.safetensors", "model.safetensors", dir,
        offsets(hend + 8, 1, hend + 8, file.size(), 16), offsets(hend, 1, hend, file.size(), 32),
        [&](auto const&) { (void)dfrot::io::load_llama_checkpoint(dir.path()); });
    Outcome const b =
        torture(src_dir / "config.json", "config.json", dir,
                offsets(config.size(), 1, config.size(), config.size(), 0),
                offsets(config.size(), 1, config.size(), config.size(), 0),
                [&](auto const&) { (void)dfrot::io::load_llama_checkpoint(dir.path()); });
    MESSAGE("safetensors: " << a.loaded << "/" << a.rejected << ", config: " << b.loaded << "/"
                            << b.rejected);
    CHECK(a.rejected > 0);
    CHECK(b.rejected > 0);
  }
}
