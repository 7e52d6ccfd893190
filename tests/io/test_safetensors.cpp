// SPDX-License-Identifier: Apache-2.0
// Hugging Face checkpoints: safetensors files and config.json written here, single-file and
// sharded, the rotate-half -> adjacent-pair permutation of q/k rows, malformed files.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/io/safetensors.hpp"
#include "io/io_test_util.hpp"
#include "io/safetensors_bytes.hpp"

using dfrot::io::load_llama_checkpoint;
using dfrot::test::put;
using dfrot::test::safetensors_bytes;
using dfrot::test::StTensor;
using dfrot::test::meta_to_hf;
using dfrot::test::TempDir;

namespace {

// Values k/64, |k| <= 64: exact in F32, F16 and BF16.
std::vector<float> grid_values(std::size_t n, std::uint32_t seed) {
  std::vector<float> v = dfrot::test::test_values(n, seed);
  for (float& x : v) x = std::round(x * 64.0f) / 64.0f;
  return v;
}

// Canonical (Meta layout) weights of a tiny model: hidden 8, 1 layer, 2 heads, 1 KV head,
// head_dim 4, intermediate 16, vocab 8.
std::map<std::string, std::vector<float>> tiny_meta_weights() {
  std::map<std::string, std::vector<float>> m;
  std::uint32_t seed = 100;
  m["tok_embeddings"] = grid_values(64, seed++);
  m["norm"] = grid_values(8, seed++);
  m["layers.0.attention_norm"] = grid_values(8, seed++);
  m["layers.0.ffn_norm"] = grid_values(8, seed++);
  m["layers.0.attention.wq"] = grid_values(64, seed++);
  m["layers.0.attention.wk"] = grid_values(32, seed++);
  m["layers.0.attention.wv"] = grid_values(32, seed++);
  m["layers.0.attention.wo"] = grid_values(64, seed++);
  m["layers.0.feed_forward.w1"] = grid_values(128, seed++);
  m["layers.0.feed_forward.w2"] = grid_values(128, seed++);
  m["layers.0.feed_forward.w3"] = grid_values(128, seed++);
  return m;
}

std::map<std::string, StTensor> tiny_hf_tensors(
    std::map<std::string, std::vector<float>> const& m) {
  std::map<std::string, StTensor> t;
  t["model.embed_tokens.weight"] = {"F16", {8, 8}, m.at("tok_embeddings")};
  t["model.norm.weight"] = {"F32", {8}, m.at("norm")};
  t["model.layers.0.input_layernorm.weight"] = {"F32", {8}, m.at("layers.0.attention_norm")};
  t["model.layers.0.post_attention_layernorm.weight"] = {"BF16", {8}, m.at("layers.0.ffn_norm")};
  t["model.layers.0.self_attn.q_proj.weight"] = {
      "F32", {8, 8}, meta_to_hf(m.at("layers.0.attention.wq"), 2, 4, 8)};
  t["model.layers.0.self_attn.k_proj.weight"] = {
      "BF16", {4, 8}, meta_to_hf(m.at("layers.0.attention.wk"), 1, 4, 8)};
  t["model.layers.0.self_attn.v_proj.weight"] = {"F32", {4, 8}, m.at("layers.0.attention.wv")};
  t["model.layers.0.self_attn.o_proj.weight"] = {"F16", {8, 8}, m.at("layers.0.attention.wo")};
  t["model.layers.0.mlp.gate_proj.weight"] = {"F32", {16, 8}, m.at("layers.0.feed_forward.w1")};
  t["model.layers.0.mlp.down_proj.weight"] = {"F32", {8, 16}, m.at("layers.0.feed_forward.w2")};
  t["model.layers.0.mlp.up_proj.weight"] = {"F32", {16, 8}, m.at("layers.0.feed_forward.w3")};
  return t;
}

std::string tiny_config(std::string const& model_type = "llama") {
  nlohmann::json c = {{"architectures", {"LlamaForCausalLM"}},
                      {"model_type", model_type},
                      {"hidden_size", 8},
                      {"num_hidden_layers", 1},
                      {"num_attention_heads", 2},
                      {"num_key_value_heads", 1},
                      {"intermediate_size", 16},
                      {"vocab_size", 8},
                      {"max_position_embeddings", 64},
                      {"rope_theta", 500000.0},
                      {"rms_norm_eps", 1e-5},
                      {"tie_word_embeddings", true},
                      {"bos_token_id", 1},
                      {"eos_token_id", {2, 3}},
                      {"rope_scaling",
                       {{"rope_type", "llama3"},
                        {"factor", 8.0},
                        {"low_freq_factor", 1.0},
                        {"high_freq_factor", 4.0},
                        {"original_max_position_embeddings", 8192}}}};
  return c.dump(2);
}

// Rotary embedding of one head vector with the two conventions.
std::vector<double> rope_adjacent(std::vector<double> q, double pos) {
  std::size_t const hd = q.size();
  for (std::size_t i = 0; i < hd / 2; ++i) {
    double const th =
        pos * std::pow(10000.0, -2.0 * static_cast<double>(i) / static_cast<double>(hd));
    double const a = q[2 * i], b = q[2 * i + 1];
    q[2 * i] = a * std::cos(th) - b * std::sin(th);
    q[2 * i + 1] = b * std::cos(th) + a * std::sin(th);
  }
  return q;
}
std::vector<double> rope_rotate_half(std::vector<double> q, double pos) {
  std::size_t const hd = q.size(), half = hd / 2;
  for (std::size_t i = 0; i < half; ++i) {
    double const th =
        pos * std::pow(10000.0, -2.0 * static_cast<double>(i) / static_cast<double>(hd));
    double const a = q[i], b = q[i + half];
    q[i] = a * std::cos(th) - b * std::sin(th);
    q[i + half] = b * std::cos(th) + a * std::sin(th);
  }
  return q;
}

}  // namespace

TEST_SUITE("io") {
  TEST_CASE("permute_rotate_half_to_adjacent: inverts the HF converter's permutation") {
    std::size_t const heads = 3, hd = 8, cols = 5;
    std::vector<float> meta(heads * hd * cols);
    for (std::size_t i = 0; i < meta.size(); ++i) meta[i] = static_cast<float>(i);
    auto const hf = meta_to_hf(meta, heads, hd, cols);
    CHECK(hf != meta);
    CHECK(dfrot::io::permute_rotate_half_to_adjacent(hf, heads, hd, cols) == meta);
    // Row 1 of head 0 (Meta: pair 0, second element) sits at HF row hd/2 = 4.
    CHECK(hf[4 * cols] == meta[1 * cols]);
    CHECK_THROWS_AS(dfrot::io::permute_rotate_half_to_adjacent(hf, heads, hd + 1, cols),
                    dfrot::ShapeError);
  }

  TEST_CASE("permute_rotate_half_to_adjacent: rotate-half RoPE on HF rows == adjacent RoPE") {
    std::size_t const heads = 2, hd = 8, cols = 6;
    std::vector<float> const meta = dfrot::test::test_values(heads * hd * cols, 42);
    std::vector<float> const x = dfrot::test::test_values(cols, 43);
    auto const hf = meta_to_hf(meta, heads, hd, cols);
    for (double pos : {0.0, 1.0, 7.0, 100.0}) {
      std::vector<float> rotated_hf;  // [heads*hd, 1]
      std::vector<double> rotated_meta;
      for (std::size_t h = 0; h < heads; ++h) {
        std::vector<double> qh(hd), qm(hd);
        for (std::size_t r = 0; r < hd; ++r) {
          for (std::size_t c = 0; c < cols; ++c) {
            qh[r] += static_cast<double>(hf[(h * hd + r) * cols + c]) * static_cast<double>(x[c]);
            qm[r] += static_cast<double>(meta[(h * hd + r) * cols + c]) * static_cast<double>(x[c]);
          }
        }
        for (double v : rope_rotate_half(qh, pos)) rotated_hf.push_back(static_cast<float>(v));
        for (double v : rope_adjacent(qm, pos)) rotated_meta.push_back(v);
      }
      auto const back = dfrot::io::permute_rotate_half_to_adjacent(rotated_hf, heads, hd, 1);
      for (std::size_t i = 0; i < back.size(); ++i) {
        CHECK(static_cast<double>(back[i]) == doctest::Approx(rotated_meta[i]).epsilon(1e-5));
      }
    }
  }

  TEST_CASE("load_llama_checkpoint: HF directory, single file and sharded") {
    auto const meta = tiny_meta_weights();
    auto const hf = tiny_hf_tensors(meta);
    for (bool sharded : {false, true}) {
      INFO("sharded " << sharded);
      TempDir dir("hf");
      dfrot::test::write_text(dir / "config.json", tiny_config());
      if (!sharded) {
        dfrot::test::write_bytes(dir / "model.safetensors", safetensors_bytes(hf));
      } else {
        std::map<std::string, StTensor> a, b;
        nlohmann::json index = {{"metadata", {{"total_size", 0}}},
                                {"weight_map", nlohmann::json::object()}};
        int k = 0;
        for (auto const& [name, t] : hf) {
          bool const first = (k++ % 2) == 0;
          (first ? a : b)[name] = t;
          index["weight_map"][name] =
              first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        }
        dfrot::test::write_bytes(dir / "model-00001-of-00002.safetensors", safetensors_bytes(a));
        dfrot::test::write_bytes(dir / "model-00002-of-00002.safetensors", safetensors_bytes(b));
        dfrot::test::write_text(dir / "model.safetensors.index.json", index.dump());
      }
      auto const ck = load_llama_checkpoint(dir.path());
      CHECK(ck.format == "safetensors");
      auto const& hp = ck.hparams;
      CHECK(hp.hidden == 8);
      CHECK(hp.n_heads == 2);
      CHECK(hp.n_kv_heads == 1);
      CHECK(hp.head_dim == 4);
      CHECK(hp.vocab == 8);
      CHECK(hp.max_seq_len == 64);
      CHECK(hp.tied_embeddings);
      CHECK(hp.rope_theta == 500000.0);
      CHECK(hp.bos_id == 1);
      CHECK(hp.eos_id == 2);
      CHECK(hp.rope_scaling == dfrot::io::RopeScalingType::kLlama3);
      CHECK(hp.rope_factor == 8.0);
      CHECK(hp.rope_original_max_pos == 8192);
      CHECK(ck.tensors.size() == meta.size());
      for (auto const& entry : meta) {
        auto const& name = entry.first;  // (not a structured binding: INFO captures it)
        auto const& values = entry.second;
        INFO(name);
        CHECK(ck.tensor(name).data == values);  // q/k permuted back to the Meta layout
      }
      CHECK(ck.tensor("layers.0.attention.wk").shape == std::vector<std::size_t>{4, 8});
      // config.json path also works.
      CHECK(load_llama_checkpoint(dir / "config.json").tensors.size() == meta.size());
    }
  }

  TEST_CASE("SafetensorsFile / HF loader: malformed input throws FormatError") {
    auto const meta = tiny_meta_weights();
    auto hf = tiny_hf_tensors(meta);
    TempDir dir("hf_bad");
    dfrot::test::write_text(dir / "config.json", tiny_config());
    auto expect = [&](std::vector<std::uint8_t> const& bytes, char const* needle) {
      dfrot::test::write_bytes(dir / "model.safetensors", bytes);
      CHECK_THROWS_WITH_AS(load_llama_checkpoint(dir.path()), doctest::Contains(needle),
                           dfrot::FormatError);
    };
    auto const good = safetensors_bytes(hf);
    expect(std::vector<std::uint8_t>(good.begin(), good.end() - 4),
           "tensor 'model.norm.weight' ends at byte");
    expect(safetensors_bytes(hf, "model.layers.0.mlp.up_proj.weight", 4),
           "data bytes but dtype F32");
    auto bad = good;
    bad[7] = 0x40;
    expect(bad, "header length");
    bad = good;
    bad[8] = '[';
    expect(bad, "json header does not parse");
    {
      auto h = hf;
      h.erase("model.layers.0.mlp.up_proj.weight");
      expect(safetensors_bytes(h), "tensor 'layers.0.feed_forward.w3' is missing");
    }
    {
      auto h = hf;
      h["model.layers.0.mlp.up_proj.weight"].values[5] = NAN;
      expect(safetensors_bytes(h), "tensor 'layers.0.feed_forward.w3' holds a non-finite value");
    }
    {
      auto h = hf;
      h["model.layers.0.mlp.up_proj.weight"].dtype = "I64";
      expect(safetensors_bytes(h), "has dtype I64");
    }
    {
      auto h = hf;
      h["model.layers.0.self_attn.q_proj.bias"] = {"F32", {8}, grid_values(8, 1)};
      expect(safetensors_bytes(h), "unexpected tensor 'model.layers.0.self_attn.q_proj.bias'");
    }
    dfrot::test::write_bytes(dir / "model.safetensors", good);
    dfrot::test::write_text(dir / "config.json", tiny_config("gpt2"));
    CHECK_THROWS_WITH_AS(load_llama_checkpoint(dir.path()),
                         doctest::Contains("unsupported architecture 'gpt2'"), dfrot::FormatError);
    dfrot::test::write_text(dir / "config.json", "{ not json");
    CHECK_THROWS_WITH_AS(load_llama_checkpoint(dir.path()), doctest::Contains("does not parse"),
                         dfrot::FormatError);
  }
}
