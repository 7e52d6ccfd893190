// SPDX-License-Identifier: Apache-2.0
// Tests on the default model (SmolLM2-135M-Instruct Q4_1 GGUF, fetched by scripts/fetch_model.sh).
// ctest label "model"; they skip with a message when the file is absent, unless
// DFROT_REQUIRE_MODEL=1 (CI), where a missing model is a failure.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dfrot/eval/perplexity.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/llama_model.hpp"
#include "dfrot/tokenizer/tokenizer.hpp"
#include "support/test_util.hpp"

using namespace dfrot;

namespace {

std::filesystem::path model_path() {
  return std::filesystem::path(DFROT_SOURCE_DIR) / "data/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

bool model_available() {
  if (std::filesystem::exists(model_path())) return true;
  char const* require = std::getenv("DFROT_REQUIRE_MODEL");
  if (require != nullptr && std::string(require) == "1") {
    FAIL("default model missing at ", model_path().string(), " (run scripts/fetch_model.sh)");
  }
  MESSAGE("skipped: default model missing at ", model_path().string());
  return false;
}

struct Loaded {
  std::unique_ptr<model::LlamaModel> model;
  std::unique_ptr<tokenizer::Tokenizer> tok;
};

Loaded const& loaded() {
  static Loaded const l = [] {
    io::LlamaCheckpoint ckpt = io::load_llama_checkpoint(model_path());
    Loaded out;
    out.tok = std::make_unique<tokenizer::Tokenizer>(*ckpt.tokenizer);
    out.model = std::make_unique<model::LlamaModel>(model::make_llama_weights(std::move(ckpt)), 512);
    return out;
  }();
  return l;
}

}  // namespace

TEST_SUITE("default_model") {
  TEST_CASE("SmolLM2-135M: configuration read from the GGUF") {
    if (!model_available()) return;
    auto const& c = loaded().model->config();
    CHECK(c.hidden == 576);
    CHECK(c.n_layers == 30);
    CHECK(c.n_heads == 9);
    CHECK(c.n_kv_heads == 3);
    CHECK(c.head_dim == 64);
    CHECK(c.intermediate == 1536);
    CHECK(c.vocab == 49152);
    CHECK(c.tied_embeddings);
    CHECK(loaded().model->weights().is_tied());
  }

  TEST_CASE("SmolLM2-135M: tokenizer round trip and prefill == decode") {
    if (!model_available()) return;
    auto const& tok = *loaded().tok;
    std::string const text = " The tower is 324 metres (1,063 ft) tall, about the same height as an 81-storey building.";
    auto const ids = tok.encode(text, false);
    CHECK(tok.decode(ids) == text);
    auto const& m = *loaded().model;
    std::vector<int> const prompt(ids.begin(), ids.begin() + 8);
    auto c1 = m.make_cache();
    auto const all = m.forward(prompt, c1, nullptr, {.n_threads = 2});
    auto c2 = m.make_cache();
    for (std::size_t t = 0; t < prompt.size(); ++t) {
      auto const one = m.forward(std::span<int const>(prompt).subspan(t, 1), c2);
      CHECK((one.row(0) - all.row(Eigen::Index(t))).cwiseAbs().maxCoeff() <= 1e-3f);
    }
  }

  TEST_CASE("SmolLM2-135M: perplexity of a WikiText-2 test excerpt is that of a working model") {
    if (!model_available()) return;
    auto const shared = test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared is absent");
      return;
    }
    std::ifstream in(shared / "data/wikitext-2-raw/wiki.test.raw", std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    std::string const text = s.str().substr(0, 6000);
    auto const tokens = loaded().tok->encode(text, true);
    auto const r = eval::perplexity(*loaded().model, tokens, {.ctx = 512, .chunks = 1, .n_threads = 2});
    MESSAGE("SmolLM2-135M ppl on the first 512 tokens of wiki.test.raw: ", r.ppl);
    // A broken forward pass or tokenizer gives hundreds or more; a working 135M model ~10-40.
    CHECK(r.ppl > 3.0);
    CHECK(r.ppl < 60.0);
  }
}
