// SPDX-License-Identifier: Apache-2.0
// stories260K against llama.cpp's reference logits and greedy tokens (../shared/fixtures).
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/llama_model.hpp"
#include "support/test_util.hpp"

using namespace dfrot;
using namespace dfrot::model;

namespace {

std::vector<int> read_ids_line(std::filesystem::path const& path, std::string const& prefix) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (!prefix.empty()) {
      if (line.rfind(prefix, 0) != 0) continue;
      line = line.substr(prefix.size());
    }
    std::istringstream s(line);
    std::vector<int> ids;
    for (int id; s >> id;) ids.push_back(id);
    return ids;
  }
  return {};
}

void check_against_fixture(LlamaModel const& m, std::filesystem::path const& fixtures) {
  std::vector<int> const tokens = read_ids_line(fixtures / "stories260K_tokens.txt", "");
  REQUIRE(tokens.size() == 64);
  std::ifstream in(fixtures / "stories260K_logits.f32", std::ios::binary);
  std::vector<float> ref(64 * 512);
  in.read(reinterpret_cast<char*>(ref.data()), std::streamsize(ref.size() * sizeof(float)));
  REQUIRE(in.good());
  auto cache = m.make_cache();
  RowMatrixF const logits = m.forward(tokens, cache);
  double worst = 0;
  int argmax_mismatch = 0;
  for (Eigen::Index t = 0; t < 64; ++t) {
    Eigen::Index ours = 0, theirs = 0;
    for (Eigen::Index v = 0; v < 512; ++v) {
      double const b = static_cast<double>(ref[std::size_t(t * 512 + v)]);
      double const a = static_cast<double>(logits(t, v));
      worst = std::max(worst, std::abs(a - b) / (2e-4 + 2e-5 * std::abs(b)));
      if (logits(t, v) > logits(t, ours)) ours = v;
      if (ref[std::size_t(t * 512 + v)] > ref[std::size_t(t * 512 + theirs)]) theirs = v;
    }
    argmax_mismatch += ours != theirs;
  }
  CHECK(worst <= 1.0);  // |a − b| ≤ 2e-4 + 2e-5·|b| everywhere
  CHECK(argmax_mismatch == 0);

  // Greedy: prompt decoded as one batch, then one token per step.
  std::vector<int> const prompt = read_ids_line(fixtures / "stories260K_greedy.txt", "prompt_ids:");
  std::vector<int> const expected = read_ids_line(fixtures / "stories260K_greedy.txt", "generated_ids:");
  REQUIRE(expected.size() == 64);
  auto gcache = m.make_cache();
  RowMatrixF last = m.forward(prompt, gcache);
  std::vector<int> generated;
  for (int i = 0; i < 64; ++i) {
    Eigen::Index best = 0;
    last.row(last.rows() - 1).maxCoeff(&best);
    generated.push_back(int(best));
    int const next = int(best);
    last = m.forward(std::span<int const>(&next, 1), gcache);
  }
  CHECK(generated == expected);
}

}  // namespace

TEST_SUITE("model") {
  TEST_CASE("stories260K (GGUF, llama.cpp conversion): logits, argmax and greedy ids match llama.cpp") {
    auto const shared = test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared is absent");
      return;
    }
    LlamaModel const m(make_llama_weights(io::load_llama_checkpoint(shared / "fixtures/stories260K-f32.gguf")),
                       128);
    check_against_fixture(m, shared / "fixtures");
  }

  TEST_CASE("stories260K (llama2.c checkpoint): logits, argmax and greedy ids match llama.cpp") {
    auto const shared = test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared is absent");
      return;
    }
    LlamaModel const m(make_llama_weights(io::load_llama_checkpoint(shared / "models/stories260K/stories260K.bin")),
                       128);
    check_against_fixture(m, shared / "fixtures");
  }
}
