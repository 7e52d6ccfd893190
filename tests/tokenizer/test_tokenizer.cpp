// SPDX-License-Identifier: Apache-2.0
// Tokenizer front-end: BOS handling, id checks, unsupported configurations, fuzzed round trips.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/llama2c.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/tokenizer.hpp"
#include "support/test_util.hpp"

using dfrot::io::TokenizerData;
using dfrot::tokenizer::Tokenizer;

TEST_SUITE("tokenizer") {
  TEST_CASE("Tokenizer: construction errors and id checks") {
    TokenizerData empty;
    CHECK_THROWS_AS(Tokenizer{empty}, dfrot::FormatError);
    TokenizerData d;
    d.kind = TokenizerData::Kind::kByteLevelBpe;
    d.tokens = {"a", "b"};
    d.token_types = {1, 1};
    d.pre = "qwen2";
    CHECK_THROWS_WITH_AS(Tokenizer{d}, doctest::Contains("unsupported pre-tokenizer 'qwen2'"),
                         dfrot::FormatError);
    d.pre = "llama-bpe";
    d.merges = {"nospace"};
    CHECK_THROWS_WITH_AS(Tokenizer{d}, doctest::Contains("merge #0"), dfrot::FormatError);
    d.merges = {"a b"};
    d.bos_id = -1;
    Tokenizer const t(d);
    CHECK(t.encode("ab", true) == std::vector<int>{0, 1});  // no "ab" piece; no BOS in vocab
    CHECK_THROWS_AS(t.decode(std::vector<int>{5}), dfrot::UsageError);
    CHECK_THROWS_AS(t.token_piece(-1), dfrot::UsageError);
  }

  TEST_CASE("Tokenizer: fuzzed byte strings round-trip through both tokenizer kinds") {
    auto const shared = dfrot::test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared not found (set DFROT_SHARED_DIR)");
      return;
    }
    Tokenizer const spm(dfrot::io::tokenizer_from_llama2c(
        dfrot::io::read_llama2c_tokenizer(shared / "models/stories260K/tok512.bin", 512)));
    std::uint64_t s = dfrot::test::seed();
    auto next = [&] {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      return static_cast<std::uint32_t>(s >> 33);
    };
    for (int iter = 0; iter < 300; ++iter) {
      std::string text;
      std::size_t const n = next() % 40;
      for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t const r = next() % 10;
        if (r < 5) {
          text += static_cast<char>('a' + next() % 26);
        } else if (r < 7) {
          text += ' ';
        } else if (r < 8) {
          text += "\xC3\xA9";
        } else {
          text += static_cast<char>(next() % 256);
        }
      }
      INFO(iter);
      CHECK(spm.decode(spm.encode(text, true)) == text);
    }
  }
}
