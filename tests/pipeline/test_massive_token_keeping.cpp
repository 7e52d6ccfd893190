// SPDX-License-Identifier: Apache-2.0
// --keep-massive-tokens: the residual-norm rule, the runs left to quantize, and the fake
// quantizers leaving kept rows untouched while K/V still quantize.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "dfrot/pipeline/massive_token_keeping.hpp"
#include "dfrot/pipeline/quantized_model.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

namespace {

struct SeenResidual final : model::ForwardHooks {
  std::size_t calls = 0;
  void residual(std::size_t, MatrixView<float const>) override { ++calls; }
};

}  // namespace

TEST_SUITE("pipeline") {
  TEST_CASE("MassiveTokenKeeper: rows with residual norm >= ratio x the layer's median are kept") {
    auto inner = std::make_unique<SeenResidual>();
    SeenResidual const* seen = inner.get();
    auto kept = std::make_shared<pipeline::KeptTokens>();
    pipeline::MassiveTokenKeeper keeper(std::move(inner), {1.0, 2.0}, 10.0, kept);
    // Row norms 3, 30, 19.9, 20; layer 1's reference 2 → threshold 20.
    std::vector<float> x = {3, 0, 0, 30, 0, 19.9f, 12, 16};
    keeper.residual(1, MatrixView<float const>(x.data(), 4, 2));
    CHECK(seen->calls == 1);
    CHECK(kept->any);
    CHECK(kept->kept == std::vector<std::uint8_t>{0, 1, 0, 1});  // |(12,16)| = 20 ≥ 20
    CHECK(kept->kept_rows == std::vector<std::size_t>{0, 2});
    CHECK(kept->seen_rows == std::vector<std::size_t>{0, 4});
    // Layer 0 (reference 1 → threshold 10): 30, 19.9 and 20.
    keeper.residual(0, MatrixView<float const>(x.data(), 4, 2));
    CHECK(kept->kept == std::vector<std::uint8_t>{0, 1, 1, 1});
    CHECK(kept->kept_rows[0] == 3);
    // The lm_head input is not a kept site.
    std::vector<float> h(8, 1.0f);
    keeper.linear_input(2, model::LinearInput::kLmHead, MatrixView<float>(h.data(), 4, 2));
    CHECK_FALSE(kept->any);
    CHECK_THROWS_AS(pipeline::MassiveTokenKeeper(nullptr, {1.0}, 1.0, kept), UsageError);
    CHECK_THROWS_AS(pipeline::MassiveTokenKeeper(nullptr, {0.0}, 5.0, kept), ShapeError);
  }

  TEST_CASE("for_each_quantized_run: maximal runs of rows that are not kept") {
    pipeline::KeptTokens k;
    k.kept = {1, 0, 0, 1, 1, 0};
    k.any = true;
    std::vector<std::pair<std::size_t, std::size_t>> runs;
    pipeline::for_each_quantized_run(&k, 6, [&](std::size_t b, std::size_t n) { runs.emplace_back(b, n); });
    CHECK(runs == std::vector<std::pair<std::size_t, std::size_t>>{{1, 2}, {5, 1}});
    runs.clear();
    pipeline::for_each_quantized_run(nullptr, 3, [&](std::size_t b, std::size_t n) { runs.emplace_back(b, n); });
    CHECK(runs == std::vector<std::pair<std::size_t, std::size_t>>{{0, 3}});
  }

  TEST_CASE("QuantizationHooks: kept rows skip activation quantization, K/V still quantize") {
    model::ModelConfig c;
    c.hidden = 8;
    c.n_layers = 1;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.head_dim = 4;
    c.intermediate = 16;
    pipeline::QuantScheme s;
    s.a_bits = 4;
    s.k_bits = 4;
    pipeline::QuantizationHooks hooks(c, s, {.down_proj = false, .o_proj = false, .qk = false});
    auto kept = std::make_shared<pipeline::KeptTokens>();
    kept->kept = {0, 1, 0};
    kept->any = true;
    hooks.set_kept_tokens(kept);
    std::vector<float> x(3 * 8);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.37f * float(i % 7) - 1.1f + 0.01f * float(i);
    std::vector<float> y = x;
    hooks.linear_input(0, model::LinearInput::kMlp, MatrixView<float>(y.data(), 3, 8));
    for (std::size_t j = 0; j < 8; ++j) CHECK(y[8 + j] == x[8 + j]);  // kept row: unchanged
    bool changed0 = false, changed2 = false;
    for (std::size_t j = 0; j < 8; ++j) {
      changed0 |= y[j] != x[j];
      changed2 |= y[16 + j] != x[16 + j];
    }
    CHECK(changed0);
    CHECK(changed2);
    std::vector<float> k(3 * 4);
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = 0.3f * float(i) - 1.0f;
    std::vector<float> kq = k;
    hooks.key(0, MatrixView<float>(kq.data(), 3, 4));
    bool k_changed = false;
    for (std::size_t j = 0; j < 4; ++j) k_changed |= kq[4 + j] != k[4 + j];
    CHECK(k_changed);  // the kept row's key is still 4-bit
  }
}
