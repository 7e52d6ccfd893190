// SPDX-License-Identifier: Apache-2.0
// SentencePiece BPE: llama.cpp's reference ids for stories260K (tok512.bin and the GGUF vocab),
// LLaMA-2 ids, merge priority on a handmade vocabulary, byte fallback and round trips.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dfrot/io/llama2c.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/tokenizer/tokenizer.hpp"
#include "support/test_util.hpp"

using dfrot::io::TokenizerData;
using dfrot::tokenizer::Tokenizer;

namespace {

std::string read_text(std::filesystem::path const& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<int> reference_ids(std::filesystem::path const& p) {
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<int> ids;
    std::istringstream ls(line);
    for (int id; ls >> id;) ids.push_back(id);
    return ids;
  }
  return {};
}

constexpr char const* kSp = "\xE2\x96\x81";  // U+2581

TokenizerData small_vocab(std::vector<std::pair<std::string, float>> const& pieces) {
  TokenizerData d;
  d.kind = TokenizerData::Kind::kSentencePieceBpe;
  d.tokens = {"<unk>", "<s>", "</s>"};
  d.scores = {0, 0, 0};
  d.token_types = {dfrot::io::kTokenUnknown, dfrot::io::kTokenControl, dfrot::io::kTokenControl};
  for (auto const& [p, s] : pieces) {
    d.tokens.push_back(p);
    d.scores.push_back(s);
    d.token_types.push_back(p.rfind("<0x", 0) == 0 ? dfrot::io::kTokenByte
                                                   : dfrot::io::kTokenNormal);
  }
  d.bos_id = 1;
  d.eos_id = 2;
  d.unk_id = 0;
  return d;
}

}  // namespace

TEST_SUITE("tokenizer") {
  TEST_CASE("SpmBpe: stories260K sample text gives llama.cpp's ids (tok512.bin and GGUF vocab)") {
    auto const shared = dfrot::test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared not found (set DFROT_SHARED_DIR)");
      return;
    }
    std::string const text = read_text(shared / "fixtures/stories260K_sample_text.txt");
    std::vector<int> const want = reference_ids(shared / "fixtures/stories260K_tokens.txt");
    REQUIRE(want.size() == 64);
    auto const bin =
        dfrot::io::read_llama2c_tokenizer(shared / "models/stories260K/tok512.bin", 512);
    Tokenizer const from_bin(dfrot::io::tokenizer_from_llama2c(bin));
    auto const gguf = dfrot::io::load_llama_checkpoint(shared / "fixtures/stories260K-f32.gguf");
    REQUIRE(gguf.tokenizer.has_value());
    Tokenizer const from_gguf(*gguf.tokenizer);
    for (Tokenizer const* tok : {&from_bin, &from_gguf}) {
      std::vector<int> const ids = tok->encode(text, true);
      REQUIRE(ids.size() >= want.size());
      CHECK(std::vector<int>(ids.begin(), ids.begin() + 64) == want);
      CHECK(tok->decode(ids) == text);
      CHECK(tok->token_piece(13) == "<0x0A>");
      CHECK(tok->token_text(13) == "\n");
      CHECK(tok->token_text(403) == " Once");
    }
  }

  TEST_CASE("SpmBpe: round trips with byte fallback") {
    auto const shared = dfrot::test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared not found (set DFROT_SHARED_DIR)");
      return;
    }
    Tokenizer const tok(dfrot::io::tokenizer_from_llama2c(
        dfrot::io::read_llama2c_tokenizer(shared / "models/stories260K/tok512.bin", 512)));
    for (std::string const& s :
         {std::string(""), std::string(" "), std::string("  two  spaces "),
          std::string("a\tb\r\nc"),
          std::string("h\xC3\xA9llo w\xC3\xB6rld \xF0\x9F\x98\x80 \xE6\x9D\xB1"),
          std::string("\xFF\xFE broken \xC3"), std::string("Lily's ball.\n\n")}) {
      INFO(s);
      auto const ids = tok.encode(s, false);
      CHECK(tok.decode(ids) == s);
    }
    CHECK(tok.encode("", true) == std::vector<int>{1});
    // "東" = E6 9D B1 is not a piece: byte tokens <0xE6> <0x9D> <0xB1> (id = 3 + byte).
    auto const ids = tok.encode("\xE6\x9D\xB1", false);
    REQUIRE(ids.size() >= 3);
    CHECK(std::vector<int>(ids.end() - 3, ids.end()) ==
          std::vector<int>{3 + 0xE6, 3 + 0x9D, 3 + 0xB1});
  }

  TEST_CASE("SpmBpe: LLaMA-2 32k vocabulary (llama2.c tokenizer.bin)") {
    auto const shared = dfrot::test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared not found (set DFROT_SHARED_DIR)");
      return;
    }
    Tokenizer const tok(dfrot::io::tokenizer_from_llama2c(dfrot::io::read_llama2c_tokenizer(
        shared / "models/llama2-tokenizer-32k/tokenizer.bin", 32000)));
    CHECK(tok.encode("Hello world", true) == std::vector<int>{1, 15043, 3186});
    CHECK(tok.encode(" Hello", false) == std::vector<int>{29871, 15043});  // "▁" then "▁Hello"
    CHECK(tok.token_piece(15043) == std::string(kSp) + "Hello");
    std::string const text =
        "The quick brown fox jumps over the lazy dog. 12345 \xE4\xBD\xA0\xE5\xA5\xBD!";
    CHECK(tok.decode(tok.encode(text, true)) == text);
  }

  TEST_CASE("SpmBpe: highest score merges first, leftmost on ties, unknown without byte tokens") {
    std::string const sp = kSp;
    // "abc" -> ▁ a b c. bc (-1) beats ab (-2) beats ▁a (-3); "abc"/"▁abc" are not pieces.
    Tokenizer const t1(small_vocab({{sp, -5},
                                    {"a", -5},
                                    {"b", -5},
                                    {"c", -5},
                                    {"ab", -2},
                                    {"bc", -1},
                                    {sp + "a", -3},
                                    {sp + "ab", -0.5f}}));
    auto id = [](Tokenizer const& t, std::string const& p) {
      for (std::size_t i = 0; i < t.n_vocab(); ++i) {
        if (t.token_piece(static_cast<int>(i)) == p) return static_cast<int>(i);
      }
      return -1;
    };
    CHECK(t1.encode("abc", false) == std::vector<int>{id(t1, sp + "a"), id(t1, "bc")});
    // Equal scores for ab and bc: the left pair merges first, then ▁ab.
    Tokenizer const t2(small_vocab({{sp, -5},
                                    {"a", -5},
                                    {"b", -5},
                                    {"c", -5},
                                    {"ab", -1},
                                    {"bc", -1},
                                    {sp + "a", -3},
                                    {sp + "ab", -0.5f}}));
    CHECK(t2.encode("abc", false) == std::vector<int>{id(t2, sp + "ab"), id(t2, "c")});
    // 'z' is not a piece and there are no byte tokens: unknown.
    CHECK(t2.encode("az", false) == std::vector<int>{id(t2, sp + "a"), 0});
    // With a byte token for 'z' it falls back to it.
    Tokenizer const t3(small_vocab({{sp, -5}, {"a", -5}, {"<0x7A>", 0}, {sp + "a", -3}}));
    CHECK(t3.encode("az", false) == std::vector<int>{id(t3, sp + "a"), id(t3, "<0x7A>")});
    CHECK(t3.decode(t3.encode("az", true)) == "az");
    // Control pieces are never produced from text.
    CHECK(t3.encode("<s>", false) != std::vector<int>{1});
  }
}
