// SPDX-License-Identifier: Apache-2.0
// Writes LlamaWeights as a Hugging Face checkpoint directory: config.json and the weights under
// HF names, q/k rows in the converter's rotate-half order, in one dtype, in one model.safetensors
// or in `n_shards` shards (layers round-robin) listed by model.safetensors.index.json. No
// tokenizer files: the tests pass their tokenizer separately.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dfrot/core/format.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "io/io_test_util.hpp"
#include "io/safetensors_bytes.hpp"

namespace dfrot::test {

inline void write_llama_hf_dir(std::filesystem::path const& dir, model::LlamaWeights const& w,
                               std::string const& dtype = "F16", std::size_t n_shards = 1) {
  model::ModelConfig const& c = w.config;
  std::filesystem::create_directories(dir);
  nlohmann::json const cfg = {{"architectures", {"LlamaForCausalLM"}},
                              {"model_type", "llama"},
                              {"hidden_size", c.hidden},
                              {"num_hidden_layers", c.n_layers},
                              {"num_attention_heads", c.n_heads},
                              {"num_key_value_heads", c.n_kv_heads},
                              {"head_dim", c.head_dim},
                              {"intermediate_size", c.intermediate},
                              {"vocab_size", c.vocab},
                              {"max_position_embeddings", c.max_seq_len},
                              {"rope_theta", c.rope_theta},
                              {"rms_norm_eps", c.norm_eps},
                              {"tie_word_embeddings", w.is_tied()},
                              {"bos_token_id", 1},
                              {"eos_token_id", 2}};
  write_text(dir / "config.json", cfg.dump(2));
  std::vector<std::map<std::string, StTensor>> shards(n_shards);
  auto mat = [&](std::size_t shard, std::string const& name, model::RowMatrix const& m, std::size_t heads = 0) {
    std::vector<float> v(m.data(), m.data() + m.size());
    auto const rows = static_cast<std::size_t>(m.rows()), cols = static_cast<std::size_t>(m.cols());
    if (heads != 0) v = meta_to_hf(v, heads, c.head_dim, cols);
    shards[shard][name] = {dtype, {rows, cols}, std::move(v)};
  };
  auto vec = [&](std::size_t shard, std::string const& name, model::Vector const& x) {
    shards[shard][name] = {dtype, {static_cast<std::size_t>(x.size())}, {x.data(), x.data() + x.size()}};
  };
  mat(0, "model.embed_tokens.weight", w.tok_embeddings);
  vec(0, "model.norm.weight", w.norm);
  if (!w.is_tied()) mat(n_shards - 1, "lm_head.weight", w.output);
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    model::LayerWeights const& L = w.layers[l];
    std::size_t const s = l % n_shards;
    std::string const p = str_cat("model.layers.", l, ".");
    vec(s, p + "input_layernorm.weight", L.attention_norm);
    mat(s, p + "self_attn.q_proj.weight", L.wq, c.n_heads);
    mat(s, p + "self_attn.k_proj.weight", L.wk, c.n_kv_heads);
    mat(s, p + "self_attn.v_proj.weight", L.wv);
    mat(s, p + "self_attn.o_proj.weight", L.wo);
    vec(s, p + "post_attention_layernorm.weight", L.ffn_norm);
    mat(s, p + "mlp.gate_proj.weight", L.w_gate);
    mat(s, p + "mlp.up_proj.weight", L.w_up);
    mat(s, p + "mlp.down_proj.weight", L.w_down);
  }
  if (n_shards == 1) {
    write_bytes(dir / "model.safetensors", safetensors_bytes(shards[0]));
    return;
  }
  nlohmann::json map = nlohmann::json::object();
  for (std::size_t s = 0; s < n_shards; ++s) {
    std::string const file = str_cat("model-", s + 1, "-of-", n_shards, ".safetensors");
    write_bytes(dir / file, safetensors_bytes(shards[s]));
    for (auto const& [name, t] : shards[s]) map[name] = file;
  }
  write_text(dir / "model.safetensors.index.json", nlohmann::json{{"metadata", nlohmann::json::object()}, {"weight_map", map}}.dump(2));
}

}  // namespace dfrot::test
