// SPDX-License-Identifier: Apache-2.0
// Layer-streamed quantization writes the in-memory pipeline's file byte for byte, and resumes.
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/eval/calibration.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/model/gguf_layer_source.hpp"
#include "dfrot/model/open_layer_source.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "dfrot/pipeline/int4_engine.hpp"
#include "dfrot/pipeline/model_file.hpp"
#include "dfrot/pipeline/quantized_model.hpp"
#include "dfrot/pipeline/streamed_quantize.hpp"
#include "io/io_test_util.hpp"
#include "model/llama_gguf_file.hpp"
#include "model/llama_hf_dir.hpp"
#include "model/synthetic_model.hpp"
#include "pipeline/tiny_tokenizer.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

namespace {

pipeline::QuantScheme w4a4kv4() {
  pipeline::QuantScheme s;
  s.rotation = pipeline::RotationKind::kHadamard;
  s.w_bits = s.a_bits = s.k_bits = s.v_bits = 4;
  s.k.symmetry = s.v.symmetry = quant::Symmetry::kAsym;
  return s;
}

/// `dfrot quantize --pipeline in-memory` (RTN): whole model in FP32, then the file.
void quantize_in_memory(std::filesystem::path const& src, std::filesystem::path const& out,
                        pipeline::QuantScheme const& s, pipeline::DenseType dense,
                        eval::CalibrationSet const* calib = nullptr, io::TokenizerData const* tokenizer = nullptr) {
  io::LlamaCheckpoint ck = io::load_llama_checkpoint(src);
  io::TokenizerData const tok = tokenizer != nullptr ? *tokenizer : *ck.tokenizer;
  model::LlamaWeights w = model::make_llama_weights(std::move(ck));
  bool const tied = w.is_tied();
  pipeline::QuantizedModelInfo info;
  info.scheme = s;
  info.online = pipeline::transform_weights(w, s, 2);
  pipeline::QuantizedLinears codes;
  if (calib != nullptr) {
    model::LlamaModel m(std::move(w), 64);
    pipeline::quantize_weights(m, s, info.online, calib, 2, {}, &codes);
    w = std::move(m.weights());
  } else {
    pipeline::quantize_weights_rtn(w, s, 2, &codes);
  }
  w.untie();
  info.version = pipeline::kInt4ModelFileVersion;
  info.dense = dense;
  auto const engine = pipeline::make_int4_engine(w, codes, s, nullptr, dense,
                                                 tied ? pipeline::tied_head_transform(w) : model::RowMatrix());
  pipeline::write_int4_model(out, w, *engine, tok, info);
}

pipeline::StreamedQuantizeReport quantize_streamed(std::filesystem::path const& src,
                                                   std::filesystem::path const& out,
                                                   pipeline::QuantScheme const& s, pipeline::DenseType dense,
                                                   bool resume = false,
                                                   eval::CalibrationSet const* calib = nullptr,
                                                   std::filesystem::path const& scratch = {},
                                                   io::TokenizerData const* tokenizer = nullptr,
                                                   pipeline::StreamedQuantizeOptions o = {}) {
  std::unique_ptr<model::LayerSource> const source = model::open_layer_source(src);
  pipeline::QuantizedModelInfo info;
  info.scheme = s;
  info.dense = dense;
  o.n_threads = 2;
  o.resume = resume;
  o.calib = calib;
  o.max_positions = 64;
  o.scratch_dir = scratch;
  return pipeline::quantize_streamed(*source, tokenizer != nullptr ? *tokenizer : *source->tokenizer(), out, info, o);
}

test::LlamaGgufOptions source_options(io::GgmlType type) {
  test::LlamaGgufOptions o;
  o.type = type;
  return o;
}

/// Calibration windows of the given lengths, tokens uniform in [0, vocab).
eval::CalibrationSet random_windows(std::uint64_t seed, std::vector<std::size_t> const& lengths, std::size_t vocab) {
  eval::CalibrationSet calib;
  Rng rng(seed);
  for (std::size_t n : lengths) {
    std::vector<int> w;
    for (std::size_t i = 0; i < n; ++i) w.push_back(static_cast<int>(rng.uniform_int(vocab)));
    calib.windows.push_back(w);
  }
  return calib;
}

}  // namespace

TEST_SUITE("pipeline") {
  TEST_CASE("streamed quantization: byte-identical to the in-memory pipeline (RTN, every rotation, tie and dense type)") {
    test::TempDir dir("streamed");
    struct Case {
      char const* name;
      bool tied;
      io::GgmlType source_type;
      pipeline::DenseType dense;
      void (*edit)(pipeline::QuantScheme&);
    };
    Case const cases[] = {
        {"quarot untied f16", false, io::GgmlType::kF16, pipeline::DenseType::kF16, [](pipeline::QuantScheme&) {}},
        {"quarot tied q8", true, io::GgmlType::kF32, pipeline::DenseType::kQ8, [](pipeline::QuantScheme&) {}},
        {"per-head tied f32", true, io::GgmlType::kF16, pipeline::DenseType::kF32,
         [](pipeline::QuantScheme& s) { s.vo_rotation = pipeline::VoRotation::kPerHead; }},
        {"random + embedding mean", true, io::GgmlType::kF32, pipeline::DenseType::kF16,
         [](pipeline::QuantScheme& s) {
           s.rotation = pipeline::RotationKind::kRandom;
           s.subtract_embedding_mean = true;
         }},
        {"no rotation, w4a16", false, io::GgmlType::kF32, pipeline::DenseType::kF16,
         [](pipeline::QuantScheme& s) {
           s.rotation = pipeline::RotationKind::kNone;
           s.a_bits = s.k_bits = s.v_bits = 16;
         }},
        {"mse clip", false, io::GgmlType::kF16, pipeline::DenseType::kF16,
         [](pipeline::QuantScheme& s) { s.w_clip.enabled = true; }},
    };
    for (Case const& c : cases) {
      CAPTURE(c.name);
      // vocab 160 > d: a tied source gets its d×d output.transform.
      model::LlamaWeights const w = test::synthetic_llama(128, 2, 4, 2, 256, 160, test::seed(), c.tied);
      auto const src = dir / "src.gguf";
      test::write_llama_gguf(src, w, test::tiny_tokenizer(160), source_options(c.source_type));
      pipeline::QuantScheme s = w4a4kv4();
      c.edit(s);
      quantize_in_memory(src, dir / "memory.gguf", s, c.dense);
      std::size_t progress_calls = 0;
      {
        model::GgufLayerSource source(src);
        pipeline::QuantizedModelInfo info;
        info.scheme = s;
        info.dense = c.dense;
        pipeline::StreamedQuantizeOptions o;
        o.progress = [&](pipeline::StreamedProgress const& p) {
          CHECK(p.layer == progress_calls);
          CHECK(p.n_layers == 2);
          ++progress_calls;
        };
        pipeline::StreamedQuantizeReport const r =
            pipeline::quantize_streamed(source, *source.tokenizer(), dir / "streamed.gguf", info, o);
        CHECK(r.source_tied == c.tied);
        CHECK(r.layers_resumed == 0);
        CHECK(r.file_bytes == std::filesystem::file_size(dir / "streamed.gguf"));
      }
      CHECK(progress_calls == 3);
      std::vector<std::uint8_t> const a = test::read_bytes(dir / "memory.gguf");
      std::vector<std::uint8_t> const b = test::read_bytes(dir / "streamed.gguf");
      CHECK(a.size() == b.size());
      CHECK(a == b);
      CHECK_FALSE(std::filesystem::exists(dir / "streamed.gguf.partial"));
    }
  }

  TEST_CASE("streamed quantization: an interrupted run resumes to the same bytes; other settings are refused") {
    test::TempDir dir("streamed_resume");
    model::LlamaWeights const w = test::synthetic_llama(64, 3, 4, 2, 128, 96, test::seed(), true);
    auto const src = dir / "src.gguf";
    test::write_llama_gguf(src, w, test::tiny_tokenizer(96), source_options(io::GgmlType::kF16));
    pipeline::QuantScheme const s = w4a4kv4();
    quantize_streamed(src, dir / "full.gguf", s, pipeline::DenseType::kF16);
    std::vector<std::uint8_t> const full = test::read_bytes(dir / "full.gguf");
    io::GgufFile const f(dir / "full.gguf");
    auto const end_of = [&](std::string const& name) {
      io::GgufTensorInfo const& t = f.tensor(name);
      return f.data_offset() + t.offset + t.n_bytes;
    };
    struct Cut {
      std::size_t bytes;
      std::size_t layers_resumed;
    };
    Cut const cuts[] = {
        {100, 0},                                              // inside the header
        {end_of("token_embd.weight") - 10, 0},                 // inside the dense part
        {end_of("blk.0.ffn_down.row_sums"), 1},                // after layer 0
        {end_of("blk.1.attn_q.codes") + 3, 1},                 // inside layer 1
        {end_of("blk.2.ffn_down.row_sums") - 1, 2},            // the last tensor torn
    };
    auto const out = dir / "out.gguf";
    for (Cut const& cut : cuts) {
      CAPTURE(cut.bytes);
      test::write_bytes(dir / "out.gguf.partial", full, cut.bytes);
      pipeline::StreamedQuantizeReport const r = quantize_streamed(src, out, s, pipeline::DenseType::kF16, true);
      CHECK(r.layers_resumed == cut.layers_resumed);
      CHECK(test::read_bytes(out) == full);
    }
    test::write_bytes(dir / "out.gguf.partial", full, end_of("blk.1.ffn_down.row_sums"));
    pipeline::QuantScheme other = s;
    other.seed += 1;  // another R1: the header's dfrot.seed differs
    CHECK_THROWS_WITH_AS(quantize_streamed(src, out, other, pipeline::DenseType::kF16, true),
                         doctest::Contains("other metadata"), FormatError);
    CHECK_THROWS_WITH_AS(quantize_streamed(src, out, s, pipeline::DenseType::kQ8, true),
                         doctest::Contains("other metadata"), FormatError);
  }

  TEST_CASE("streamed quantization: GPTQ byte-identical to the in-memory pipeline, activations in memory or a scratch file") {
    test::TempDir dir("streamed_gptq");
    eval::CalibrationSet const calib = random_windows(test::seed(), {24, 17, 32}, 160);
    for (bool const tied : {false, true}) {
      CAPTURE(tied);
      model::LlamaWeights const w = test::synthetic_llama(128, 2, 4, 2, 256, 160, test::seed() + 1, tied);
      auto const src = dir / "src.gguf";
      test::write_llama_gguf(src, w, test::tiny_tokenizer(160), source_options(io::GgmlType::kF16));
      pipeline::QuantScheme s = w4a4kv4();
      s.weight_method = pipeline::WeightMethod::kGptq;
      quantize_in_memory(src, dir / "memory.gguf", s, pipeline::DenseType::kF16, &calib);
      std::vector<std::uint8_t> const expect = test::read_bytes(dir / "memory.gguf");
      for (bool const scratch : {false, true}) {
        CAPTURE(scratch);
        pipeline::StreamedQuantizeReport const r = quantize_streamed(
            src, dir / "streamed.gguf", s, pipeline::DenseType::kF16, false, &calib, scratch ? dir.path() : std::filesystem::path());
        CHECK(r.gptq.linears.size() == 2 * pipeline::kLinearIds);
        CHECK(r.activation_bytes == (24 + 17 + 32) * 128 * sizeof(float));
        CHECK(test::read_bytes(dir / "streamed.gguf") == expect);
      }
      std::size_t files = 0;  // the scratch file was unlinked at once
      for (auto const& e : std::filesystem::directory_iterator(dir.path())) files += e.path().filename().string().rfind("dfrot-calibration", 0) == 0;
      CHECK(files == 0);
    }
    pipeline::QuantScheme s = w4a4kv4();
    s.weight_method = pipeline::WeightMethod::kGptq;
    CHECK_THROWS_WITH_AS(quantize_streamed(dir / "src.gguf", dir / "x.gguf", s, pipeline::DenseType::kF16),
                         doctest::Contains("calibration"), UsageError);
    CHECK_THROWS_AS(quantize_streamed(dir / "src.gguf", dir / "x.gguf", s, pipeline::DenseType::kF16, false, &calib,
                                      dir / "no-such-folder"),
                    IoError);
  }

  TEST_CASE("streamed quantization: an interrupted GPTQ run resumes from its activation checkpoint to the same bytes") {
    test::TempDir dir("streamed_gptq_resume");
    eval::CalibrationSet const calib = random_windows(test::seed() + 7, {20, 13}, 96);
    model::LlamaWeights const w = test::synthetic_llama(64, 4, 4, 2, 128, 96, test::seed() + 3, true);
    auto const src = dir / "src.gguf";
    test::write_llama_gguf(src, w, test::tiny_tokenizer(96), source_options(io::GgmlType::kF16));
    pipeline::QuantScheme s = w4a4kv4();
    s.weight_method = pipeline::WeightMethod::kGptq;
    auto const out = dir / "out.gguf";
    auto const partial = dir / "out.gguf.partial";
    auto const ckpt = dir / "out.gguf.partial.calib";
    auto every_layer = [] {
      pipeline::StreamedQuantizeOptions o;
      o.checkpoint_seconds = 0;
      return o;
    };
    auto run = [&](bool resume, pipeline::StreamedQuantizeOptions o, eval::CalibrationSet const& c = {}) {
      return quantize_streamed(src, out, s, pipeline::DenseType::kF16, resume,
                               c.windows.empty() ? &calib : &c, {}, nullptr, std::move(o));
    };
    pipeline::StreamedQuantizeReport const whole = run(false, every_layer());
    CHECK(whole.checkpoints == 3);  // after layers 0, 1, 2 (not after the last)
    CHECK_FALSE(std::filesystem::exists(ckpt));
    std::vector<std::uint8_t> const expect = test::read_bytes(out);
    std::filesystem::rename(out, dir / "full.gguf");

    struct Interrupted : std::runtime_error {
      using std::runtime_error::runtime_error;
    };
    auto stop_after_layer = [&](std::size_t n) {
      pipeline::StreamedQuantizeOptions o = every_layer();
      o.progress = [n](pipeline::StreamedProgress const& p) {
        if (p.layer == n && !p.resumed) throw Interrupted("stop");
      };
      return o;
    };
    // Interrupted after layer 2 was written and checkpointed: layers 0–2 are kept.
    CHECK_THROWS_AS(run(false, stop_after_layer(3)), Interrupted);
    CHECK(std::filesystem::exists(ckpt));
    pipeline::StreamedQuantizeReport r = run(true, every_layer());
    CHECK(r.layers_resumed == 3);
    CHECK(r.gptq.linears.size() == pipeline::kLinearIds);  // only the last layer was solved
    CHECK(test::read_bytes(out) == expect);
    CHECK_FALSE(std::filesystem::exists(ckpt));

    // Interrupted inside layer 2's GPTQ: the checkpoint holds layer 2's inputs.
    pipeline::StreamedQuantizeOptions mid = every_layer();
    mid.gptq_progress = [](pipeline::GptqModelProgress const& p) {
      if (p.layer == 2 && p.group == pipeline::GptqGroup::kDown) throw Interrupted("stop");
    };
    CHECK_THROWS_AS(run(false, mid), Interrupted);
    r = run(true, every_layer());
    CHECK(r.layers_resumed == 2);
    CHECK(test::read_bytes(out) == expect);

    // The file lost layers the checkpoint is ahead of: it starts again at layer 0, same bytes.
    CHECK_THROWS_AS(run(false, stop_after_layer(3)), Interrupted);
    io::GgufFile const f(dir / "full.gguf");
    io::GgufTensorInfo const& t = f.tensor("blk.1.attn_q.codes");
    std::vector<std::uint8_t> const part = test::read_bytes(partial);
    test::write_bytes(partial, part, f.data_offset() + t.offset + 5);
    r = run(true, every_layer());
    CHECK(r.layers_resumed == 0);
    CHECK(test::read_bytes(out) == expect);

    // Other calibration windows, a damaged checkpoint and a layer out of range are refused by name.
    CHECK_THROWS_AS(run(false, stop_after_layer(2)), Interrupted);
    eval::CalibrationSet other = calib;
    other.windows[1][4] = (other.windows[1][4] + 1) % 96;
    CHECK_THROWS_WITH_AS(run(true, every_layer(), other), doctest::Contains("other calibration windows"), FormatError);
    std::vector<std::uint8_t> const saved = test::read_bytes(ckpt);
    test::write_bytes(ckpt, saved, saved.size() - 4);
    CHECK_THROWS_WITH_AS(run(true, every_layer()), doctest::Contains("out.gguf.partial.calib"), FormatError);
    test::write_bytes(ckpt, saved, 30);
    CHECK_THROWS_WITH_AS(run(true, every_layer()), doctest::Contains("damaged"), FormatError);
    std::vector<std::uint8_t> bad = saved;
    bad[12] = 4;  // the inputs of layer 4 of a 4-layer model
    test::write_bytes(ckpt, bad, bad.size());
    CHECK_THROWS_WITH_AS(run(true, every_layer()), doctest::Contains("layer 4"), FormatError);
    // Without --resume a stale checkpoint is dropped at the start.
    pipeline::StreamedQuantizeOptions rare = stop_after_layer(2);
    rare.checkpoint_seconds = 1e9;
    CHECK_THROWS_AS(run(false, rare), Interrupted);
    CHECK_FALSE(std::filesystem::exists(ckpt));
    run(false, every_layer());
    CHECK(test::read_bytes(out) == expect);
    CHECK_FALSE(std::filesystem::exists(ckpt));
  }

  TEST_CASE("streamed quantization: a Hugging Face directory (sharded, BF16) gives the in-memory pipeline's bytes, RTN and GPTQ") {
    test::TempDir dir("streamed_hf");
    eval::CalibrationSet const calib = random_windows(test::seed(), {20, 31}, 160);
    model::LlamaWeights const w = test::synthetic_llama(128, 2, 4, 2, 256, 160, test::seed() + 2, true);
    auto const src = dir / "hf";
    test::write_llama_hf_dir(src, w, "BF16", 2);
    io::TokenizerData const tok = test::tiny_tokenizer(160);
    for (bool const gptq : {false, true}) {
      CAPTURE(gptq);
      pipeline::QuantScheme s = w4a4kv4();
      if (gptq) s.weight_method = pipeline::WeightMethod::kGptq;
      eval::CalibrationSet const* c = gptq ? &calib : nullptr;
      quantize_in_memory(src, dir / "memory.gguf", s, pipeline::DenseType::kF16, c, &tok);
      pipeline::StreamedQuantizeReport const r =
          quantize_streamed(src, dir / "streamed.gguf", s, pipeline::DenseType::kF16, false, c, {}, &tok);
      CHECK(r.source_tied);
      CHECK(test::read_bytes(dir / "streamed.gguf") == test::read_bytes(dir / "memory.gguf"));
    }
  }

  TEST_CASE("streamed quantization: auto-asym and non-engine schemes are refused with the reason") {
    pipeline::QuantScheme s = w4a4kv4();
    CHECK(pipeline::streamed_quantize_unsupported(s).empty());
    s.weight_method = pipeline::WeightMethod::kGptq;
    CHECK(pipeline::streamed_quantize_unsupported(s).empty());
    s.weight_method = pipeline::WeightMethod::kRtn;
    s.auto_asym = true;
    CHECK(pipeline::streamed_quantize_unsupported(s).find("auto-asym") != std::string::npos);
    s.auto_asym = false;
    s.w_bits = 8;
    CHECK_FALSE(pipeline::streamed_quantize_unsupported(s).empty());
  }
}
