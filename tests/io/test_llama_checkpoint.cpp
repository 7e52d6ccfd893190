// SPDX-License-Identifier: Apache-2.0
// load_llama_checkpoint: canonical tensors and hyper-parameters from GGUF and llama2.c, the
// default SmolLM2 model (when fetched), and validation errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>

#include "dfrot/core/error.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "io/io_test_util.hpp"
#include "support/test_util.hpp"

using dfrot::io::LlamaCheckpoint;
using dfrot::io::load_llama_checkpoint;
using dfrot::io::TokenizerData;
using dfrot::test::TempDir;

namespace {

void check_stories260k_hparams(dfrot::io::LlamaHParams const& hp) {
  CHECK(hp.architecture == "llama");
  CHECK(hp.hidden == 64);
  CHECK(hp.intermediate == 172);
  CHECK(hp.n_layers == 5);
  CHECK(hp.n_heads == 8);
  CHECK(hp.n_kv_heads == 4);
  CHECK(hp.head_dim == 8);
  CHECK(hp.vocab == 512);
  CHECK(hp.tied_embeddings);
  CHECK(hp.rope_theta == 10000.0);
  CHECK(hp.norm_eps == doctest::Approx(1e-5));
  CHECK(hp.rope_scaling == dfrot::io::RopeScalingType::kNone);
  CHECK(hp.bos_id == 1);
  CHECK(hp.eos_id == 2);
}

std::filesystem::path smollm2_path() {
  return std::filesystem::path(DFROT_SOURCE_DIR) / "data/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

}  // namespace

TEST_SUITE("io") {
  TEST_CASE("load_llama_checkpoint: stories260K GGUF and llama2.c give the same canonical model") {
    auto const shared = dfrot::test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared not found (set DFROT_SHARED_DIR)");
      return;
    }
    LlamaCheckpoint const g = load_llama_checkpoint(shared / "fixtures/stories260K-f32.gguf");
    LlamaCheckpoint const b = load_llama_checkpoint(shared / "models/stories260K/stories260K.bin");
    CHECK(g.format == "gguf");
    CHECK(b.format == "llama2c-v0");
    check_stories260k_hparams(g.hparams);
    check_stories260k_hparams(b.hparams);
    CHECK(g.hparams.max_seq_len == 128);  // the converter hard-codes it
    CHECK(b.hparams.max_seq_len == 512);
    CHECK(g.tensors.count("output") == 0);  // output.weight == token_embd.weight: reported tied
    REQUIRE(g.tensors.size() == 2 + 5 * 9);
    REQUIRE(b.tensors.size() == g.tensors.size());
    for (auto const& entry : g.tensors) {
      auto const& name = entry.first;  // (not a structured binding: INFO captures it)
      auto const& t = entry.second;
      INFO(name);
      REQUIRE(b.tensors.count(name) == 1);
      CHECK(t.shape == b.tensors.at(name).shape);
      CHECK(t.data == b.tensors.at(name).data);  // bit-exact
    }
    CHECK(g.tensor("layers.0.attention.wk").shape == std::vector<std::size_t>{32, 64});
    CHECK(g.tensor("layers.4.feed_forward.w2").shape == std::vector<std::size_t>{64, 172});
    REQUIRE(g.tokenizer.has_value());
    REQUIRE(b.tokenizer.has_value());  // tok512.bin found next to the model
    CHECK(g.tokenizer->kind == TokenizerData::Kind::kSentencePieceBpe);
    CHECK(g.tokenizer->tokens == b.tokenizer->tokens);
    CHECK(g.tokenizer->scores == b.tokenizer->scores);
    CHECK(g.tokenizer->token_types == b.tokenizer->token_types);
    CHECK(g.tokenizer->add_space_prefix);
    CHECK(g.tokenizer->unk_id == 0);
  }

  TEST_CASE("load_llama_checkpoint: SmolLM2-135M-Instruct Q4_1 GGUF (default model)") {
    if (!std::filesystem::exists(smollm2_path())) {
      MESSAGE("skipped: " << smollm2_path().string() << " absent (run scripts/fetch_model.sh)");
      return;
    }
    LlamaCheckpoint const ck = load_llama_checkpoint(smollm2_path());
    auto const& hp = ck.hparams;
    CHECK(hp.hidden == 576);
    CHECK(hp.n_layers == 30);
    CHECK(hp.n_heads == 9);
    CHECK(hp.n_kv_heads == 3);
    CHECK(hp.head_dim == 64);
    CHECK(hp.intermediate == 1536);
    CHECK(hp.vocab == 49152);
    CHECK(hp.max_seq_len == 8192);
    CHECK(hp.rope_theta == 100000.0);
    CHECK(hp.tied_embeddings);
    CHECK(hp.bos_id == 1);
    CHECK(hp.eos_id == 2);
    CHECK(ck.tensors.size() == 2 + 30 * 9);
    REQUIRE(ck.tokenizer.has_value());
    CHECK(ck.tokenizer->kind == TokenizerData::Kind::kByteLevelBpe);
    CHECK(ck.tokenizer->pre == "smollm");
    CHECK(ck.tokenizer->merges.size() == 48900);
    CHECK_FALSE(ck.tokenizer->add_bos);

    // Spot check against the raw blocks, decoded here from the Q4_1 / Q8_0 definitions.
    dfrot::io::GgufFile f(smollm2_path());
    auto const& q = f.tensor("blk.7.attn_q.weight");
    REQUIRE(q.type == dfrot::io::GgmlType::kQ4_1);
    auto const raw = f.tensor_bytes(q);
    auto half = [&](std::size_t at) {
      std::uint16_t h;
      std::memcpy(&h, raw.data() + at, 2);
      return dfrot::io::fp16_to_fp32(h);
    };
    auto const& wq = ck.tensor("layers.7.attention.wq").data;
    std::size_t const block = 1234;  // any block: 20 bytes, 32 values
    float const d = half(20 * block), m = half(20 * block + 2);
    for (std::size_t j = 0; j < 32; ++j) {
      auto const byte = static_cast<std::uint8_t>(raw[20 * block + 4 + j % 16]);
      int const nib = j < 16 ? (byte & 15) : (byte >> 4);
      CHECK(wq[32 * block + j] == doctest::Approx(static_cast<double>(d * static_cast<float>(nib) + m)).epsilon(1e-6));
    }
    auto const& e = f.tensor("token_embd.weight");
    REQUIRE(e.type == dfrot::io::GgmlType::kQ8_0);
    auto const eraw = f.tensor_bytes(e);
    std::uint16_t h;
    std::memcpy(&h, eraw.data() + 34 * 999, 2);
    float const de = dfrot::io::fp16_to_fp32(h);
    auto const& emb = ck.tensor("tok_embeddings").data;
    for (std::size_t j = 0; j < 32; ++j) {
      auto const qv = static_cast<std::int8_t>(eraw[34 * 999 + 2 + j]);
      CHECK(emb[32 * 999 + j] == doctest::Approx(static_cast<double>(de * qv)).epsilon(1e-6));
    }
  }

  TEST_CASE("load_llama_checkpoint: a tiny GGUF with hand-set hyper-parameters") {
    TempDir dir("ckpt_tiny");
    dfrot::test::write_bytes(dir / "m.gguf", dfrot::test::tiny_llama_gguf().build());
    LlamaCheckpoint const ck = load_llama_checkpoint(dir / "m.gguf");
    CHECK(ck.hparams.hidden == 8);
    CHECK(ck.hparams.head_dim == 4);
    CHECK(ck.hparams.rope_theta == 500000.0);
    CHECK(ck.hparams.norm_eps == doctest::Approx(1e-6));
    CHECK_FALSE(ck.hparams.tied_embeddings);
    CHECK(ck.tensors.count("output") == 1);
    CHECK_FALSE(ck.tokenizer.has_value());
    CHECK(ck.tensor("layers.0.feed_forward.w2").shape == std::vector<std::size_t>{8, 16});
    // GGUF is row-major with dims reversed: element (r, c) of [16, 8] ffn_gate is at r * 8 + c.
    CHECK(ck.tensor("layers.0.feed_forward.w1").data == dfrot::test::test_values(128, 10));
  }

  TEST_CASE("load_llama_checkpoint: bad models throw FormatError naming file, tensor, problem") {
    TempDir dir("ckpt_bad");
    auto expect = [&](dfrot::test::GgufWriter const& w, char const* needle) {
      dfrot::test::write_bytes(dir / "bad.gguf", w.build());
      CHECK_THROWS_WITH_AS(load_llama_checkpoint(dir / "bad.gguf"), doctest::Contains(needle),
                           dfrot::FormatError);
    };
    expect(dfrot::test::tiny_llama_gguf("qwen2"), "unsupported architecture 'qwen2'");
    expect(dfrot::test::tiny_llama_gguf("llama", "blk.0.attn_k.weight"),
           "tensor 'layers.0.attention.wk' is missing");
    expect(dfrot::test::tiny_llama_gguf("llama", "", std::numeric_limits<float>::quiet_NaN(),
                                        "blk.0.ffn_up.weight"),
           "tensor 'layers.0.feed_forward.w3' holds a non-finite value");
    expect(dfrot::test::tiny_llama_gguf("llama", "", std::numeric_limits<float>::infinity(),
                                        "output_norm.weight"),
           "tensor 'norm' holds a non-finite value (inf)");
    {
      auto w = dfrot::test::tiny_llama_gguf();
      w.add_f32_tensor("blk.0.attn_q.bias", {8}, dfrot::test::test_values(8, 99));
      expect(w, "unexpected tensor 'blk.0.attn_q.bias'");
    }
    {
      auto w = dfrot::test::tiny_llama_gguf();
      w.add_u32("llama.attention.key_length", 2);  // head_dim 2 -> k should be [2, 8]
      expect(w, "tensor 'layers.0.attention.wk' has shape [4, 8], expected [2, 8]");
    }
    {
      dfrot::test::GgufWriter w;
      w.add_string("general.architecture", "llama");
      expect(w, "llama.embedding_length' is missing");
    }
    dfrot::test::write_text(dir / "junk.bin", "definitely not a model, only some text here....");
    CHECK_THROWS_AS(load_llama_checkpoint(dir / "junk.bin"), dfrot::FormatError);
    dfrot::test::write_text(dir / "tiny.bin", "ab");
    CHECK_THROWS_AS(load_llama_checkpoint(dir / "tiny.bin"), dfrot::FormatError);
    CHECK_THROWS_AS(load_llama_checkpoint(dir / "missing.gguf"), dfrot::IoError);
    CHECK_THROWS_WITH_AS(load_llama_checkpoint(dir.path()),
                         doctest::Contains("without config.json"), dfrot::FormatError);
  }
}
