// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "dfrot/core/rng.hpp"
#include "dfrot/quant/gptq.hpp"
#include "dfrot/quant/reference.hpp"
#include "dfrot/quant/rtn.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::quant;

namespace {

struct Layer {
  std::size_t rows, cols, tokens;
  std::vector<float> w;  // [rows × cols]
  std::vector<float> x;  // [tokens × cols], correlated columns
};

Layer make_layer(std::size_t rows, std::size_t cols, std::size_t tokens, std::uint64_t seed) {
  Rng rng(seed);
  Layer l{rows, cols, tokens, std::vector<float>(rows * cols), std::vector<float>(tokens * cols)};
  for (auto& v : l.w) v = static_cast<float>(rng.normal() * 0.05);
  // x = z·M with a random mixing M (strong column correlations) and per-column scales.
  std::size_t const k = cols / 2;
  std::vector<double> mix(k * cols);
  for (auto& v : mix) v = rng.normal();
  std::vector<double> z(k);
  for (std::size_t t = 0; t < tokens; ++t) {
    for (auto& v : z) v = rng.normal();
    for (std::size_t c = 0; c < cols; ++c) {
      double acc = 0.2 * rng.normal();
      for (std::size_t j = 0; j < k; ++j) acc += z[j] * mix[j * cols + c];
      l.x[t * cols + c] = static_cast<float>(acc * (1.0 + static_cast<double>(c % 5)));
    }
  }
  return l;
}

Eigen::MatrixXd hessian_of(Layer const& l, std::size_t n_batches = 4) {
  HessianAccumulator acc(l.cols);
  std::size_t const per = l.tokens / n_batches;
  for (std::size_t b = 0; b < n_batches; ++b)
    acc.add(MatrixView<float const>(l.x.data() + b * per * l.cols, per, l.cols), 1, "test");
  return acc.hessian();
}

std::vector<double> row_major(Eigen::MatrixXd const& m) {
  std::vector<double> out(static_cast<std::size_t>(m.size()));
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) out[std::size_t(i * m.cols() + j)] = m(i, j);
  return out;
}

// ‖X Wᵀ − X Ŵᵀ‖_F² over the calibration tokens.
double output_error(Layer const& l, std::vector<float> const& wq) {
  double e = 0;
  for (std::size_t t = 0; t < l.tokens; ++t) {
    for (std::size_t r = 0; r < l.rows; ++r) {
      double d = 0;
      for (std::size_t c = 0; c < l.cols; ++c)
        d += static_cast<double>(l.x[t * l.cols + c]) *
             (static_cast<double>(l.w[r * l.cols + c]) - static_cast<double>(wq[r * l.cols + c]));
      e += d * d;
    }
  }
  return e;
}

GptqConfig make_cfg(Symmetry s, std::size_t group, bool act_order, bool static_groups,
                    bool clip = false) {
  GptqConfig c;
  c.quant.bits = 4;
  c.quant.symmetry = s;
  c.quant.granularity = group == 0 ? Granularity::kPerRow : Granularity::kPerGroup;
  c.quant.group_size = group;
  c.clip.enabled = clip;
  c.block_size = 16;  // several lazy-update blocks on a 48-column layer
  c.act_order = act_order;
  c.static_groups = static_groups;
  return c;
}

reference::GptqSettings ref_settings(GptqConfig const& c) {
  reference::GptqSettings s;
  s.quant = c.quant;
  s.clip = c.clip;
  s.percdamp = c.percdamp;
  s.act_order = c.act_order;
  s.static_groups = c.static_groups;
  return s;
}

}  // namespace

TEST_SUITE("quant") {
  TEST_CASE("HessianAccumulator: streaming batches equal (2/N) sum x x^T in float64") {
    auto const l = make_layer(4, 24, 200, test::seed());
    HessianAccumulator acc(l.cols, 2);
    acc.add(MatrixView<float const>(l.x.data(), 120, l.cols), 3);
    acc.add(MatrixView<float const>(l.x.data() + 120 * l.cols, 80, l.cols), 2);
    auto const h = acc.hessian();
    CHECK(acc.n_sequences() == 5);
    CHECK(acc.n_tokens() == 200);
    double max_err = 0;
    for (std::size_t i = 0; i < l.cols; ++i) {
      for (std::size_t j = 0; j < l.cols; ++j) {
        double s = 0;
        for (std::size_t t = 0; t < l.tokens; ++t)
          s += static_cast<double>(l.x[t * l.cols + i]) * static_cast<double>(l.x[t * l.cols + j]);
        s *= 2.0 / 5.0;
        max_err = std::max(max_err,
                           std::abs(h(Eigen::Index(i), Eigen::Index(j)) - s) / (1 + std::abs(s)));
      }
    }
    CHECK(max_err < 1e-12);
    // take_hessian builds the same matrix in the accumulator's storage.
    Eigen::MatrixXd const taken = std::move(acc).take_hessian();
    CHECK(taken.rows() == h.rows());
    CHECK(taken.cols() == h.cols());
    CHECK((taken.array() == h.array()).all());
  }

  TEST_CASE("gptq_quantize: equals the unblocked float64 reference within 1e-6") {
    auto const l = make_layer(12, 48, 256, test::seed() + 1);
    auto const h = hessian_of(l);
    std::vector<double> wd(l.w.begin(), l.w.end());
    struct Case {
      Symmetry s;
      std::size_t group;
      bool act_order, static_groups, clip;
    };
    Case const cases[] = {
        {Symmetry::kSym, 0, false, false, false},   {Symmetry::kAsym, 0, false, false, true},
        {Symmetry::kSym, 16, false, false, false},   // groups aligned with blocks
        {Symmetry::kAsym, 12, false, false, false},  // groups straddle blocks (pending updates)
        {Symmetry::kSym, 24, false, false, true},    // group spans two blocks
        {Symmetry::kSym, 0, true, false, false},     // act-order
        {Symmetry::kAsym, 12, true, false, false},   // act-order + dynamic groups
        {Symmetry::kSym, 16, true, true, false},     // act-order + static groups
    };
    for (auto const& k : cases) {
      CAPTURE(k.group);
      CAPTURE(k.act_order);
      CAPTURE(k.static_groups);
      auto const cfg = make_cfg(k.s, k.group, k.act_order, k.static_groups, k.clip);
      auto const res =
          gptq_quantize(MatrixView<float const>(l.w.data(), l.rows, l.cols), h, cfg, "layer");
      auto const ref = reference::gptq(wd, l.rows, l.cols, row_major(h), ref_settings(cfg));
      CHECK(test::max_abs_diff(res.weights, ref) <= 1e-6);
      CHECK(res.info.status == SolveStatus::kSuccess);
      // Codes + parameters reproduce the weights (up to float rounding of the parameters).
      double max_q = 0;
      for (std::size_t r = 0; r < l.rows; ++r)
        for (std::size_t c = 0; c < l.cols; ++c)
          max_q = std::max(max_q, std::abs(static_cast<double>(res.quantized.value(r, c)) -
                                           static_cast<double>(res.weights[r * l.cols + c])));
      CHECK(max_q <= 1e-6);
    }
  }

  TEST_CASE("gptq_quantize: lower output error than RTN on correlated inputs") {
    auto const l = make_layer(16, 48, 256, test::seed() + 2);
    auto const h = hessian_of(l);
    for (Symmetry s : {Symmetry::kSym, Symmetry::kAsym}) {
      auto const cfg = make_cfg(s, 0, false, false);
      auto const res =
          gptq_quantize(MatrixView<float const>(l.w.data(), l.rows, l.cols), h, cfg, "layer");
      std::vector<float> rtn(l.w.size());
      fake_quantize_weights(MatrixView<float const>(l.w.data(), l.rows, l.cols),
                            MatrixView<float>(rtn.data(), l.rows, l.cols), cfg.quant);
      double const e_gptq = output_error(l, res.weights), e_rtn = output_error(l, rtn);
      CHECK(e_gptq < 0.8 * e_rtn);
    }
  }

  TEST_CASE("gptq_quantize: per-row scales from other weights") {
    auto const l = make_layer(16, 48, 256, test::seed() + 4);
    auto const h = hessian_of(l);
    auto const cfg = make_cfg(Symmetry::kSym, 0, false, false);
    MatrixView<float const> const w(l.w.data(), l.rows, l.cols);
    auto const own = gptq_quantize(w, h, cfg, "layer");
    auto const same = gptq_quantize(w, h, cfg, "layer", w);
    CHECK(same.weights == own.weights);
    CHECK(same.quantized.scales == own.quantized.scales);
    std::vector<float> wide(l.w.size());
    for (std::size_t i = 0; i < wide.size(); ++i) wide[i] = 2.0f * l.w[i];
    auto const from_wide = gptq_quantize(w, h, cfg, "layer", MatrixView<float const>(wide.data(), l.rows, l.cols));
    for (std::size_t r = 0; r < l.rows; ++r)
      CHECK(from_wide.quantized.scales[r] == doctest::Approx(2.0 * double(own.quantized.scales[r])).epsilon(1e-6));
    CHECK_THROWS_AS((void)gptq_quantize(w, h, cfg, "layer", MatrixView<float const>(wide.data(), l.rows - 1, l.cols)),
                    UsageError);
  }

  TEST_CASE("gptq_quantize: singular Hessian, dead columns and an all-zero Hessian stay finite") {
    auto l = make_layer(8, 32, 12, test::seed() + 3);  // 12 tokens < 32 columns: rank ≤ 12
    for (std::size_t t = 0; t < l.tokens; ++t) {
      l.x[t * l.cols + 5] = 0.0f;                 // dead column
      l.x[t * l.cols + 7] = l.x[t * l.cols + 6];  // duplicated column
    }
    auto const h = hessian_of(l, 1);
    auto const res =
        gptq_quantize(MatrixView<float const>(l.w.data(), l.rows, l.cols), h,
                      make_cfg(Symmetry::kSym, 0, true, false), "layers.0.mlp.up_proj");
    CHECK(res.info.n_dead_columns == 1);
    bool finite = true;
    for (float v : res.weights) finite = finite && std::isfinite(v);
    CHECK(finite);
    for (std::size_t r = 0; r < l.rows; ++r) CHECK(res.weights[r * l.cols + 5] == 0.0f);
    Eigen::MatrixXd const zero = Eigen::MatrixXd::Zero(32, 32);
    auto const z = gptq_quantize(MatrixView<float const>(l.w.data(), l.rows, l.cols), zero,
                                 make_cfg(Symmetry::kAsym, 16, false, false), "zero");
    CHECK(z.info.n_dead_columns == 32);
    for (float v : z.weights) CHECK(v == 0.0f);
  }

  TEST_CASE("gptq_quantize: NaN inputs and a non-PD Hessian fail with the layer name") {
    auto l = make_layer(4, 16, 32, 9);
    auto h = hessian_of(l, 1);
    std::string const name = "layers.7.self_attn.o_proj";
    Eigen::MatrixXd bad = -Eigen::MatrixXd::Identity(16, 16);
    try {
      (void)gptq_quantize(MatrixView<float const>(l.w.data(), 4, 16), bad,
                          make_cfg(Symmetry::kSym, 0, false, false), name);
      FAIL("expected NumericError");
    } catch (NumericError const& e) {
      std::string const msg = e.what();
      CHECK(msg.find(name) != std::string::npos);
      CHECK(msg.find("diverged") != std::string::npos);
    }
    Eigen::MatrixXd hn = h;
    hn(2, 3) = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_AS(gptq_quantize(MatrixView<float const>(l.w.data(), 4, 16), hn,
                                  make_cfg(Symmetry::kSym, 0, false, false), name),
                    NumericError);
    l.w[5] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_AS(gptq_quantize(MatrixView<float const>(l.w.data(), 4, 16), h,
                                  make_cfg(Symmetry::kSym, 0, false, false), name),
                    NumericError);
    HessianAccumulator acc(16);
    l.x[3] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_AS(acc.add(MatrixView<float const>(l.x.data(), 32, 16), 1, name), NumericError);
    CHECK_THROWS_AS(acc.add(MatrixView<float const>(l.x.data(), 16, 32), 1, name), ShapeError);
  }

  TEST_CASE("gptq_quantize: act-order with dynamic groups records the column-to-group map") {
    auto const l = make_layer(6, 32, 128, test::seed() + 4);
    auto const h = hessian_of(l);
    auto const res = gptq_quantize(MatrixView<float const>(l.w.data(), l.rows, l.cols), h,
                                   make_cfg(Symmetry::kSym, 8, true, false), "g");
    REQUIRE(res.quantized.group_index.size() == 32);
    std::vector<int> per_group(4, 0);
    for (auto g : res.quantized.group_index) ++per_group[g];
    for (int n : per_group) CHECK(n == 8);
    for (std::size_t i = 1; i < res.perm.size(); ++i)
      CHECK(h(Eigen::Index(res.perm[i - 1]), Eigen::Index(res.perm[i - 1])) >=
            h(Eigen::Index(res.perm[i]), Eigen::Index(res.perm[i])));
    auto const st = gptq_quantize(MatrixView<float const>(l.w.data(), l.rows, l.cols), h,
                                  make_cfg(Symmetry::kSym, 8, true, true), "g");
    CHECK(st.quantized.group_index.empty());  // static groups stay contiguous
    CHECK_THROWS_AS(gptq_quantize(MatrixView<float const>(l.w.data(), l.rows, l.cols), h,
                                  make_cfg(Symmetry::kSym, 7, false, false), "g"),
                    ShapeError);
  }
}
