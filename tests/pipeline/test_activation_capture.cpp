// SPDX-License-Identifier: Apache-2.0
// ActivationCapture: the recorded rows are the model's RMSNorm outputs (checked against an
// independent float64 RMSNorm of the embeddings, and RMS 1 after fusion), token selection, layer
// subsets, stacking order, and that capturing leaves the forward pass unchanged.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/pipeline/activation_capture.hpp"
#include "dfrot/pipeline/fuse_norms.hpp"
#include "model/synthetic_model.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using model::LinearInput;

namespace {

std::vector<std::vector<int>> some_windows(std::size_t vocab, std::size_t n_windows,
                                           std::size_t len, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<int>> out(n_windows);
  for (auto& w : out)
    for (std::size_t i = 0; i < len; ++i) w.push_back(int(rng.uniform_int(vocab)));
  return out;
}

}  // namespace

TEST_SUITE("pipeline") {
  TEST_CASE("capture: layer 0 attention rows are RMSNorm(embedding)·γ, computed independently") {
    auto const w = test::synthetic_llama(32, 2, 4, 2, 48, 40, test::seed());
    model::LlamaModel const m(w, 64);
    auto const windows = some_windows(40, 2, 9, 3);
    auto const cap = pipeline::capture_rmsnorm_outputs(m, windows, {}, 1);
    REQUIRE(cap.n_windows() == 2);
    REQUIRE(cap.n_rows() == 18);
    auto const rows = cap.rows(0, LinearInput::kAttention);
    REQUIRE(rows.rows() == 18);
    REQUIRE(rows.cols() == 32);
    double max_err = 0;
    for (std::size_t r = 0; r < rows.rows(); ++r) {
      int const tok = windows[r / 9][r % 9];
      double ss = 0;
      for (Eigen::Index c = 0; c < 32; ++c)
        ss += double(w.tok_embeddings(tok, c)) * double(w.tok_embeddings(tok, c));
      double const inv = 1.0 / std::sqrt(ss / 32.0 + w.config.norm_eps);
      for (Eigen::Index c = 0; c < 32; ++c) {
        double const expect =
            double(w.tok_embeddings(tok, c)) * inv * double(w.layers[0].attention_norm(c));
        max_err = std::max(max_err, std::abs(expect - double(rows(r, std::size_t(c)))));
      }
    }
    CHECK(max_err < 1e-5);
    CHECK(cap.tokens()[10].window == 1);
    CHECK(cap.tokens()[10].position == 1);
  }

  TEST_CASE("capture: after norm fusion every recorded row has RMS 1, and logits are unchanged") {
    auto w = test::synthetic_llama(48, 3, 4, 2, 64, 30, test::seed() + 1);
    pipeline::fuse_rms_norms(w);
    model::LlamaModel const m(w, 64);
    auto const windows = some_windows(30, 1, 12, 5);
    auto cache = m.make_cache();
    model::RowMatrixF const plain = m.forward(windows[0], cache);
    pipeline::ActivationCapture cap(m.config());
    auto cache2 = m.make_cache();
    model::RowMatrixF const hooked = m.forward(windows[0], cache2, &cap);
    CHECK((plain - hooked).cwiseAbs().maxCoeff() == 0.0f);
    for (std::size_t l = 0; l < 3; ++l) {
      for (LinearInput s : pipeline::ActivationCapture::kSites) {
        auto const rows = cap.rows(l, s);
        REQUIRE(rows.rows() == 12);
        for (std::size_t r = 0; r < rows.rows(); ++r) {
          double ss = 0;
          for (std::size_t c = 0; c < rows.cols(); ++c)
            ss += double(rows(r, c)) * double(rows(r, c));
          CHECK(std::sqrt(ss / 48.0) == doctest::Approx(1.0).epsilon(1e-4));
        }
      }
    }
    // The two sites of a layer are different tensors (attention vs post-attention norm).
    CHECK((cap.matrix(1, LinearInput::kAttention) - cap.matrix(1, LinearInput::kMlp))
              .cwiseAbs()
              .maxCoeff() > 0.1f);
  }

  TEST_CASE("capture: token stride and per-window cap select the same rows as a full capture") {
    auto const w = test::synthetic_llama(32, 2, 4, 2, 48, 40, test::seed() + 2);
    model::LlamaModel const m(w, 64);
    auto const windows = some_windows(40, 2, 10, 7);
    auto const full = pipeline::capture_rmsnorm_outputs(m, windows);
    auto const strided = pipeline::capture_rmsnorm_outputs(m, windows, {.token_stride = 3});
    auto const capped = pipeline::capture_rmsnorm_outputs(
        m, windows, {.token_stride = 3, .max_tokens_per_window = 3});
    REQUIRE(strided.n_rows() == 8);  // positions 0, 3, 6, 9 of each window
    REQUIRE(capped.n_rows() == 6);   // positions 0, 3, 6
    std::vector<std::size_t> const expect_pos = {0, 3, 6, 9, 0, 3, 6, 9};
    for (std::size_t i = 0; i < strided.n_rows(); ++i) {
      CHECK(strided.tokens()[i].position == expect_pos[i]);
      CHECK(strided.tokens()[i].window == i / 4);
    }
    for (LinearInput s : pipeline::ActivationCapture::kSites) {
      auto const f = full.rows(1, s);
      auto const st = strided.rows(1, s);
      auto const cp = capped.rows(1, s);
      for (std::size_t i = 0; i < st.rows(); ++i) {
        auto const t = strided.tokens()[i];
        for (std::size_t c = 0; c < 32; ++c) CHECK(st(i, c) == f(t.window * 10 + t.position, c));
      }
      for (std::size_t i = 0; i < cp.rows(); ++i) {
        auto const t = capped.tokens()[i];
        CHECK(t.position == 3 * (i % 3));
        for (std::size_t c = 0; c < 32; ++c) CHECK(cp(i, c) == f(t.window * 10 + t.position, c));
      }
    }
  }

  TEST_CASE("capture: layer subset, stacking order and errors") {
    auto w = test::synthetic_llama(32, 3, 4, 2, 48, 40, test::seed() + 3);
    pipeline::fuse_rms_norms(w);
    model::LlamaModel const m(w, 64);
    auto const windows = some_windows(40, 2, 6, 9);
    auto const all = pipeline::capture_rmsnorm_outputs(m, windows);
    model::RowMatrixF const a0 = all.stacked();
    REQUIRE(a0.rows() == 3 * 2 * 12);
    REQUIRE(a0.cols() == 32);
    for (std::size_t l = 0; l < 3; ++l) {
      CHECK(a0.middleRows(Eigen::Index(24 * l), 12) == all.matrix(l, LinearInput::kAttention));
      CHECK(a0.middleRows(Eigen::Index(24 * l + 12), 12) == all.matrix(l, LinearInput::kMlp));
    }
    std::size_t calls = 0;
    auto const sub = pipeline::capture_rmsnorm_outputs(m, windows, {.layers = {2, 1, 2}}, 1,
                                                       [&](std::size_t done, std::size_t total) {
                                                         ++calls;
                                                         CHECK(done <= total);
                                                       });
    CHECK(calls == 2);
    CHECK(sub.layers() == std::vector<std::size_t>{1, 2});
    CHECK_FALSE(sub.captures(0));
    CHECK(sub.stacked() == a0.bottomRows(48));
    CHECK_THROWS_AS((void)sub.rows(0, LinearInput::kAttention), UsageError);
    CHECK_THROWS_AS((void)sub.rows(1, LinearInput::kDown), UsageError);
    CHECK_THROWS_AS(pipeline::ActivationCapture(3, 32, {.layers = {3}}), UsageError);
    CHECK_THROWS_AS(pipeline::ActivationCapture(3, 32, {.token_stride = 0}), UsageError);
  }
}
