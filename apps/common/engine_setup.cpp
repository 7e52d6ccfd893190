// SPDX-License-Identifier: Apache-2.0
#include "common/engine_setup.hpp"

#include <cstdio>

#include "dfrot/core/isa.hpp"
#include "dfrot/gemm/gemm.hpp"
#include "dfrot/pipeline/quantized_model.hpp"

namespace dfrot::app {

void add_engine_flags(CLI::App& sub, EngineFlags& flags) {
  sub.add_flag("--fake", flags.fake,
               "run quantized models on the fake-quant path (FP32 GEMMs on dequantized weights; the "
               "int4 engine's oracle) instead of the int4 engine");
  sub.add_option("--dense", flags.dense, "int4 engine: embeddings / lm_head storage")
      ->check(CLI::IsMember({"f16", "q8", "f32"}))
      ->capture_default_str();
}

namespace {
std::string describe_engine(pipeline::QuantScheme const& s, pipeline::DenseType dense) {
  std::string const kernel =
      s.a_bits >= 16 ? "W4A16" : str_cat("W4A", s.a_bits);
  Isa const isa = s.a_bits >= 16 ? dispatched_isa<gemm::kFloatGemmIsas>(active_isa())
                                 : dispatched_isa<gemm::kIntGemmIsas>(active_isa());
  // AMX runs the prefill GEMMs; decode (fewer than kAmxMinTokens rows) stays on VNNI.
  std::string const level = isa == Isa::kAmx
      ? str_cat("amx, ", to_string(gemm::int_gemm_level(isa, 1)), " below ", gemm::kAmxMinTokens, " tokens")
      : std::string(to_string(isa));
  return str_cat("int4 (", kernel, " ", level,
                 ", K", s.k_bits, "V", s.v_bits, " cache, ", to_string(dense), " embeddings/lm_head)");
}
}  // namespace

EngineSetup setup_engine(LoadedModel& m, pipeline::QuantScheme const& s, PreparedModel& prepared,
                         pipeline::QuantizerPlan const* plan, EngineFlags const& flags, int n_threads) {
  EngineSetup out;
  std::string const why = pipeline::int4_engine_unsupported(s);
  if (!flags.fake && why.empty() && !prepared.codes.layers.empty()) {
    model::LlamaWeights& w = m.model->weights();
    w.untie();
    auto engine = pipeline::make_int4_engine(
        w, prepared.codes, s, plan, flags.dense_type(),
        prepared.source_tied ? pipeline::tied_head_transform(w) : model::RowMatrix());
    prepared.codes = {};
    pipeline::release_dense_weights(w);
    m.model->set_linears(engine);
    out.int4 = engine;
    m.model->set_kv_format(pipeline::kv_cache_format(w.config, s, plan));
    pipeline::OnlineTransformOptions online = prepared.online;
    online.n_threads = n_threads;
    // The engine applies the o_proj / down_proj input Hadamards while it quantizes (C4).
    online = engine->fuse_online_transforms(w.config, online);
    out.hooks = std::make_unique<pipeline::OnlineTransforms>(w.config, online);
    out.engine = describe_engine(s, flags.dense_type());
    return out;
  }
  if (!flags.fake && s.w_bits < 16) {
    std::fprintf(stderr, "engine: the int4 engine cannot run this scheme (%s): fake-quant path\n",
                 why.empty() ? "no codes" : why.c_str());
  }
  out.hooks = std::make_unique<pipeline::QuantizationHooks>(m.model->config(), s, prepared.online, plan);
  bool const quantized = s.w_bits < 16 || s.a_bits < 16 || s.k_bits < 16 || s.v_bits < 16;
  out.engine = quantized ? "fake-quant (FP32 GEMMs)" : "fp32 (Eigen GEMMs, nothing quantized)";
  return out;
}

LoadedModel load_quantized_file(std::string const& path, pipeline::QuantizedModelInfo const& info,
                                pipeline::QuantScheme const& scheme, std::size_t max_positions,
                                EngineFlags const& flags, int n_threads, EngineSetup& setup) {
  pipeline::Int4Model file = pipeline::load_int4_model(path, max_positions, &scheme);
  LoadedModel out;
  DFROT_THROW_IF(!file.tokenizer, FormatError, "model '", path, "' carries no tokenizer");
  out.tokenizer_data = *file.tokenizer;
  out.tokenizer = std::make_unique<tokenizer::Tokenizer>(std::move(*file.tokenizer));
  pipeline::OnlineTransformOptions online = info.online;
  online.n_threads = n_threads;
  pipeline::QuantizerPlan const* plan = info.plan ? &*info.plan : nullptr;
  if (flags.fake) {
    out.model = std::make_unique<model::LlamaModel>(
        pipeline::dequantized_weights(file.model->weights(), *file.engine), max_positions);
    setup.hooks = std::make_unique<pipeline::QuantizationHooks>(out.model->config(), scheme, online, plan);
    setup.engine = "fake-quant (FP32 GEMMs on the file's dequantized weights)";
    return out;
  }
  out.model = std::move(file.model);
  setup.int4 = file.engine;
  online = file.engine->fuse_online_transforms(out.model->config(), online);  // as setup_engine
  setup.hooks = std::make_unique<pipeline::OnlineTransforms>(out.model->config(), online);
  setup.engine = describe_engine(scheme, info.dense);
  return out;
}

}  // namespace dfrot::app
