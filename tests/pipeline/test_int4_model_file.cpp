// SPDX-License-Identifier: Apache-2.0
// The version-2 model file (packed int4 codes, F16 embeddings): round trip, size, corruption.
#include <doctest/doctest.h>

#include <array>
#include <fstream>
#include <limits>
#include <vector>

#include "dfrot/model/llama_model.hpp"
#include "dfrot/pipeline/int4_engine.hpp"
#include "dfrot/pipeline/model_file.hpp"
#include "dfrot/pipeline/quantized_model.hpp"
#include "io/io_test_util.hpp"
#include "model/synthetic_model.hpp"
#include "pipeline/tiny_tokenizer.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

namespace {


struct Built {
  model::LlamaWeights weights;  ///< transformed, norms only after release
  std::shared_ptr<pipeline::Int4Linears> engine;
  pipeline::QuantizedModelInfo info;
};

Built build(std::uint64_t seed, bool tied = false,
            pipeline::DenseType dense = pipeline::DenseType::kF16) {
  Built b;
  b.weights = test::synthetic_llama(128, 2, 4, 2, 256, 64, seed, tied);
  pipeline::QuantScheme& s = b.info.scheme;
  s.rotation = pipeline::RotationKind::kHadamard;
  s.w_bits = s.a_bits = s.k_bits = s.v_bits = 4;
  s.k.symmetry = s.v.symmetry = quant::Symmetry::kAsym;
  b.info.online = pipeline::transform_weights(b.weights, s, 2);
  b.info.version = pipeline::kInt4ModelFileVersion;
  pipeline::QuantizedLinears codes;
  pipeline::quantize_weights_rtn(b.weights, s, 2, &codes);
  b.engine = pipeline::make_int4_engine(
      b.weights, codes, s, nullptr, dense,
      tied ? pipeline::tied_head_transform(b.weights) : model::RowMatrix());
  pipeline::release_dense_weights(b.weights);
  return b;
}

model::RowMatrixF logits(model::LlamaModel const& m, pipeline::OnlineTransformOptions online) {
  std::vector<int> const tokens = {1, 9, 4, 33, 7, 7, 60, 2, 15};
  pipeline::OnlineTransforms hooks(m.config(), online);
  auto cache = m.make_cache();
  return m.forward(tokens, cache, &hooks, {.n_threads = 2});
}

}  // namespace

TEST_SUITE("pipeline") {
  TEST_CASE("int4 model file: written, mapped and run again with bit-identical logits") {
    for (auto const dense : {pipeline::DenseType::kF16, pipeline::DenseType::kQ8})
    for (bool const tied : {false, true}) {
    CAPTURE(tied);
    CAPTURE(to_string(dense));
    Built const b = build(test::seed(), tied, dense);
    test::TempDir dir("int4_file");
    auto const path = dir / (tied ? "tied.gguf" : "m.gguf");
    pipeline::write_int4_model(path, b.weights, *b.engine, test::tiny_tokenizer(64), b.info);

    model::LlamaModel mem(b.weights, 64);
    mem.set_linears(b.engine);
    mem.set_kv_format(pipeline::kv_cache_format(b.weights.config, b.info.scheme, nullptr));
    model::RowMatrixF const expect = logits(mem, b.info.online);

    auto const info = pipeline::read_quantized_model_info(path);
    REQUIRE(info);
    CHECK(info->version == 2);
    CHECK(info->dense == dense);
    CHECK((io::GgufFile(path).find_tensor("output.transform") != nullptr) == tied);
    pipeline::Int4Model const loaded = pipeline::load_int4_model(path, 64);
    REQUIRE(loaded.tokenizer);
    CHECK(loaded.tokenizer->tokens.size() == 64);
    model::RowMatrixF const got = logits(*loaded.model, info->online);
    CHECK(got == expect);
    // Codes are used from the mapping: the decoder linears take about half a byte per weight.
    std::size_t const params = 2 * (128 * 128 * 2 + 64 * 128 * 2 + 256 * 128 * 3);
    CHECK(loaded.engine->tied() == tied);
    CHECK(loaded.engine->linear_bytes() < params * 6 / 10);
    CHECK(loaded.file_bytes < loaded.engine->linear_bytes() + loaded.engine->dense_bytes() + 64 * 1024);
    CHECK(loaded.engine->layers()[0][0].codes() != b.engine->layers()[0][0].codes());

    // The fake oracle of the file: dequantized weights + QuantizationHooks give the same logits.
    model::LlamaModel const fake(pipeline::dequantized_weights(loaded.model->weights(), *loaded.engine), 64);
    pipeline::QuantizationHooks hooks(fake.config(), info->scheme, info->online);
    std::vector<int> const tokens = {1, 9, 4, 33, 7, 7, 60, 2, 15};
    auto cache = fake.make_cache();
    model::RowMatrixF const f = fake.forward(tokens, cache, &hooks, {.n_threads = 2});
    // (The Q8 head also quantizes its input to int8, which the oracle does not.)
    CHECK((f - got).norm() / f.norm() <= (dense == pipeline::DenseType::kQ8 ? 2e-2 : 1e-4));
    }
  }

  TEST_CASE("int4 model file: corrupt or truncated files give errors naming the file and tensor") {
    Built const b = build(test::seed() + 1);
    test::TempDir dir("int4_bad");
    auto const path = dir / "m.gguf";
    pipeline::write_int4_model(path, b.weights, *b.engine, test::tiny_tokenizer(64), b.info);
    std::vector<char> bytes(std::filesystem::file_size(path));
    std::ifstream(path, std::ios::binary).read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    auto write = [&](std::vector<char> const& data) {
      auto const p = dir / "bad.gguf";
      std::ofstream(p, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
      return p;
    };
    {  // one nibble of blk.0.attn_q's codes changed: its row sum no longer matches
      io::GgufFile const f(path);
      auto const& t = f.tensor("blk.0.attn_q.codes");
      std::vector<char> bad = bytes;
      bad[f.data_offset() + t.offset + 3] ^= 0x01;
      try {
        (void)pipeline::load_int4_model(write(bad), 64);
        FAIL("corrupt codes were accepted");
      } catch (FormatError const& e) {
        CHECK(std::string(e.what()).find("blk.0.attn_q") != std::string::npos);
        CHECK(std::string(e.what()).find("bad.gguf") != std::string::npos);
      }
    }
    {  // a Q8 embedding byte changed: named, with the file
      Built const q = build(test::seed() + 2, false, pipeline::DenseType::kQ8);
      auto const qp = dir / "q8.gguf";
      pipeline::write_int4_model(qp, q.weights, *q.engine, test::tiny_tokenizer(64), q.info);
      std::vector<char> qb(std::filesystem::file_size(qp));
      std::ifstream(qp, std::ios::binary).read(qb.data(), static_cast<std::streamsize>(qb.size()));
      io::GgufFile const f(qp);
      qb[f.data_offset() + f.tensor("token_embd.codes").offset + 5] ^= 0x01;
      CHECK_THROWS_WITH_AS((void)pipeline::load_int4_model(write(qb), 64),
                           doctest::Contains("token_embd"), FormatError);
    }
    {  // truncated in the tensor data
      std::vector<char> bad(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() - 100));
      CHECK_THROWS_AS((void)pipeline::load_int4_model(write(bad), 64), FormatError);
    }
    {  // a v1 file is refused by the engine with a clear message
      model::LlamaWeights w = test::synthetic_llama(128, 1, 4, 2, 256, 64, 5);
      pipeline::QuantizedModelInfo v1;
      v1.scheme.rotation = pipeline::RotationKind::kHadamard;
      v1.online = pipeline::transform_weights(w, v1.scheme, 1);
      auto const p1 = dir / "v1.gguf";
      pipeline::write_quantized_model(p1, w, test::tiny_tokenizer(64), v1);
      CHECK_THROWS_WITH_AS((void)pipeline::load_int4_model(p1, 64),
                           doctest::Contains("fake-quant path only"), UsageError);
    }
  }

  TEST_CASE("int4 model file: a learned clip plan is stored, read back and followed by engine and oracle") {
    Built b = build(test::seed() + 3);
    pipeline::QuantizerPlan plan;
    plan.clip.resize(2);
    for (std::size_t l = 0; l < 2; ++l)
      for (std::size_t i = 0; i < pipeline::kQuantSites; ++i)
        plan.clip[l][i] = 0.5f + 0.05f * static_cast<float>((l * pipeline::kQuantSites + i) % 10);
    b.info.plan = plan;
    b.info.scheme.weight_method = pipeline::WeightMethod::kGptq;  // (the codes are RTN's; only the record matters here)
    b.info.scheme.calib = {.n_windows = 8, .window = 512, .seed = 3};
    b.info.scheme.gptq.quantized_inputs = b.info.scheme.gptq.learn_act_clip = true;
    // The engine of the file was made without the plan: rebuild it from the same codes with it.
    model::LlamaWeights w = test::synthetic_llama(128, 2, 4, 2, 256, 64, test::seed() + 3);
    (void)pipeline::transform_weights(w, b.info.scheme, 2);
    pipeline::QuantizedLinears codes;
    pipeline::quantize_weights_rtn(w, b.info.scheme, 2, &codes);
    auto const engine = pipeline::make_int4_engine(w, codes, b.info.scheme, &plan, pipeline::DenseType::kF16, {});
    pipeline::release_dense_weights(w);
    test::TempDir dir("int4_clip");
    auto const path = dir / "clip.gguf";
    pipeline::write_int4_model(path, w, *engine, test::tiny_tokenizer(64), b.info);

    auto const info = pipeline::read_quantized_model_info(path);
    REQUIRE(info);
    REQUIRE(info->plan);
    CHECK_FALSE(info->plan->has_symmetry());
    CHECK(info->plan->clip == plan.clip);
    CHECK(info->scheme.calib.n_windows == 8);
    CHECK(info->scheme.calib.window == 512);
    CHECK(info->scheme.calib.seed == 3);
    CHECK(info->scheme.gptq.quantized_inputs);
    CHECK(info->scheme.gptq.learn_act_clip);
    CHECK_FALSE(info->scheme.gptq.fp_target);
    CHECK(info->scheme.describe() == b.info.scheme.describe());
    pipeline::Int4Model const loaded = pipeline::load_int4_model(path, 64);
    CHECK(loaded.engine->activation_plan()[1][3].clip_ratio == plan.clip[1][3]);
    model::RowMatrixF const got = logits(*loaded.model, info->online);
    model::LlamaModel mem(w, 64);
    mem.set_linears(engine);
    mem.set_kv_format(pipeline::kv_cache_format(w.config, b.info.scheme, &plan));
    CHECK(logits(mem, b.info.online) == got);
    model::LlamaModel plain(w, 64);  // the same codes with the scheme's clip ratios
    plain.set_linears(b.engine);
    plain.set_kv_format(pipeline::kv_cache_format(w.config, b.info.scheme, nullptr));
    model::RowMatrixF const unplanned = logits(plain, b.info.online);
    CHECK((unplanned - got).norm() > 1e-2f * got.norm());

    // The oracle follows the plan too (and differs without it).
    model::LlamaModel const fake(pipeline::dequantized_weights(loaded.model->weights(), *loaded.engine), 64);
    std::vector<int> const tokens = {1, 9, 4, 33, 7, 7, 60, 2, 15};
    auto run_fake = [&](pipeline::QuantizerPlan const* p) {
      pipeline::QuantizationHooks hooks(fake.config(), info->scheme, info->online, p);
      auto cache = fake.make_cache();
      return fake.forward(tokens, cache, &hooks, {.n_threads = 2});
    };
    model::RowMatrixF const f = run_fake(&*info->plan);
    CHECK((f - got).norm() / f.norm() <= 1e-4);
    CHECK((run_fake(nullptr) - got).norm() > 1e-2f * got.norm());

    // A ratio outside (0, 1] or NaN in the file is refused, naming the layer and site.
    for (float const bad : {1.5f, 0.0f, std::numeric_limits<float>::quiet_NaN()}) {
      CAPTURE(bad);
      pipeline::QuantizedModelInfo broken = b.info;
      broken.plan->clip[1][3] = bad;
      auto const bp = dir / "bad_clip.gguf";
      pipeline::write_int4_model(bp, w, *engine, test::tiny_tokenizer(64), broken);
      CHECK_THROWS_WITH_AS((void)pipeline::read_quantized_model_info(bp),
                           doctest::Contains("layers.1.down_proj_input"), FormatError);
    }
  }

  TEST_CASE("int4 model file: mixed activation bits per site are stored and run by engine and oracle") {
    model::LlamaWeights w = test::synthetic_llama(128, 2, 4, 2, 256, 64, test::seed() + 4);
    pipeline::QuantizedModelInfo info;
    pipeline::QuantScheme& s = info.scheme;
    s.rotation = pipeline::RotationKind::kHadamard;
    s.w_bits = s.a_bits = s.k_bits = s.v_bits = 4;
    s.a_site_bits = {0, 16, 0, 8};  // o_proj weight-only, down_proj at 8 bits
    info.online = pipeline::transform_weights(w, s, 2);
    info.version = pipeline::kInt4ModelFileVersion;
    pipeline::QuantizedLinears codes;
    pipeline::quantize_weights_rtn(w, s, 2, &codes);
    auto const engine = pipeline::make_int4_engine(w, codes, s, nullptr, pipeline::DenseType::kF16, {});
    CHECK(engine->activation_plan()[1][0].bits == 4);
    CHECK(engine->activation_plan()[1][1].bits == 16);
    CHECK(engine->activation_plan()[1][3].bits == 8);
    pipeline::release_dense_weights(w);
    test::TempDir dir("int4_mixed");
    auto const path = dir / "mixed.gguf";
    pipeline::write_int4_model(path, w, *engine, test::tiny_tokenizer(64), info);
    auto const read = pipeline::read_quantized_model_info(path);
    REQUIRE(read);
    CHECK(read->scheme.a_site_bits == std::array<int, 4>{4, 16, 4, 8});
    pipeline::Int4Model const loaded = pipeline::load_int4_model(path, 64);
    model::RowMatrixF const got = logits(*loaded.model, read->online);
    model::LlamaModel const fake(pipeline::dequantized_weights(loaded.model->weights(), *loaded.engine), 64);
    std::vector<int> const tokens = {1, 9, 4, 33, 7, 7, 60, 2, 15};
    auto run_fake = [&](pipeline::QuantScheme const& sc) {
      pipeline::QuantizationHooks hooks(fake.config(), sc, read->online);
      auto cache = fake.make_cache();
      return fake.forward(tokens, cache, &hooks, {.n_threads = 2});
    };
    CHECK((run_fake(read->scheme) - got).norm() / got.norm() <= 1e-4f);
    pipeline::QuantScheme uniform = read->scheme;
    uniform.a_site_bits = {};
    CHECK((run_fake(uniform) - got).norm() > 1e-2f * got.norm());
  }
}
