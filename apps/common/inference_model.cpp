// SPDX-License-Identifier: Apache-2.0
#include "common/inference_model.hpp"

#include "common/engine_setup.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include "dfrot/core/format.hpp"
#include "dfrot/io/file_read.hpp"
#include "dfrot/io/gguf.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/pipeline/model_file.hpp"
#include "dfrot/pipeline/quantized_model.hpp"

namespace dfrot::app {

InferenceModel load_inference_model(std::string const& path, std::string const& tokenizer_path,
                                    std::size_t max_positions, int n_threads, bool fake) {
  std::optional<pipeline::QuantizedModelInfo> info = pipeline::read_quantized_model_info(path);
  InferenceModel m;
  if (info && info->version == pipeline::kInt4ModelFileVersion) {
    EngineFlags flags;
    flags.fake = fake;
    EngineSetup setup;
    m.loaded = load_quantized_file(path, *info, info->scheme, max_positions, flags, n_threads, setup);
    m.hooks = std::move(setup.hooks);
    m.engine = setup.engine;
    if (setup.int4) {
      pipeline::Int4Linears const& e = *setup.int4;
      m.decode_weight_bytes = e.linear_bytes() + e.dense_bytes() - (e.tied() ? 0 : e.embeddings().bytes());
    }
    return m;
  }
  m.loaded = load_model(path, tokenizer_path, max_positions);
  if (!info) {
    m.engine = "fp32";
    return m;
  }
  pipeline::QuantScheme const& s = info->scheme;
  if (s.auto_asym) {
    std::fprintf(stderr, "warning: %s is a version-1 file quantized with --auto-asym; generation "
                         "uses the scheme's stored symmetries, not a per-layer skew plan\n",
                 path.c_str());
  }
  info->online.n_threads = n_threads;
  m.hooks = std::make_unique<pipeline::QuantizationHooks>(m.loaded.model->config(), s, info->online);
  m.engine = str_cat("fake-quant (version-1 file) W", s.w_bits, "A", s.a_bits, "K", s.k_bits, "V", s.v_bits);
  return m;
}

std::string read_chat_template(std::string const& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::path const dir = io::hf_checkpoint_dir(path); !dir.empty()) {
    fs::path const cfg = dir / "tokenizer_config.json";
    if (!fs::is_regular_file(cfg, ec)) return {};
    nlohmann::json const j = io::read_json_file(cfg, "tokenizer config");
    if (j.is_object() && j.contains("chat_template") && j["chat_template"].is_string())
      return j["chat_template"].get<std::string>();
    return {};
  }
  if (!io::starts_with_magic(path, "GGUF")) return {};
  io::GgufFile const f(path);
  return f.get_string_or("tokenizer.chat_template", "");
}

}  // namespace dfrot::app
