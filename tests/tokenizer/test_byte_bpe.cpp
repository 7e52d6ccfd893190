// SPDX-License-Identifier: Apache-2.0
// Byte-level BPE: GPT-2 alphabet, pre-tokenizer splits (gpt2, llama3, smollm) worked out from the
// regexes by hand, merges on a handmade vocabulary, and the SmolLM2 vocabulary when fetched.
#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/tokenizer/byte_bpe.hpp"
#include "dfrot/tokenizer/tokenizer.hpp"
#include "dfrot/tokenizer/unicode.hpp"
#include "support/test_util.hpp"
#include "tokenizer/byte_vocab.hpp"

using dfrot::io::TokenizerData;
using dfrot::tokenizer::pre_tokenize;
using dfrot::tokenizer::PreTokenizer;
using dfrot::tokenizer::Tokenizer;

namespace {

std::vector<std::string> split(std::string_view text, PreTokenizer kind) {
  std::vector<std::string> out;
  for (auto s : pre_tokenize(text, kind)) out.emplace_back(s);
  return out;
}

using Strings = std::vector<std::string>;

using dfrot::test::byte_vocab;

int id_of(Tokenizer const& t, std::string const& piece) {
  for (std::size_t i = 0; i < t.n_vocab(); ++i) {
    if (t.token_piece(static_cast<int>(i)) == piece) return static_cast<int>(i);
  }
  FAIL("no piece " << piece);
  return -1;
}

}  // namespace

TEST_SUITE("tokenizer") {
  TEST_CASE("byte_to_codepoint: a bijection onto printable code points") {
    auto const& t = dfrot::tokenizer::byte_to_codepoint();
    std::set<std::uint32_t> seen(t.begin(), t.end());
    CHECK(seen.size() == 256);
    CHECK(t[' '] == 0x120);   // 'Ġ'
    CHECK(t['\n'] == 0x10A);  // 'Ċ'
    CHECK(t['A'] == 'A');
    CHECK(t[0xAD] == 0x143);
    CHECK(t[0xFF] == 0xFF);
    CHECK(t[0] == 0x100);
  }

  TEST_CASE("unicode: classes and lenient UTF-8 decoding") {
    using namespace dfrot::tokenizer;
    CHECK(is_letter(U'\u00E9'));
    CHECK(is_letter(U'\u6771'));        // 東
    CHECK(is_letter(U'\u0416'));        // Ж
    CHECK_FALSE(is_letter(U'\u00D7'));  // ×
    CHECK(is_number(U'\u0663'));        // Arabic-indic three (Nd)
    CHECK(is_number(U'\u2167'));        // Roman numeral eight (Nl)
    CHECK(is_number(U'\u00BD'));        // ½ (No)
    CHECK_FALSE(is_number('a'));
    CHECK(is_whitespace(U'\u3000'));
    CHECK(is_whitespace('\t'));
    CHECK_FALSE(is_whitespace(U'\u200B'));  // zero width space is not White_Space
    auto const cps = decode_utf8("a\xC3\xA9\xFF\xE6\x9D");
    REQUIRE(cps.size() == 5);
    CHECK(cps[1].cp == 0xE9);
    CHECK(cps[2].cp == kInvalidCodepoint);
    CHECK(cps[3].cp == kInvalidCodepoint);  // truncated 3-byte sequence: bytes one by one
    CHECK(decode_utf8("\xC0\x80")[0].cp == kInvalidCodepoint);  // overlong
  }

  TEST_CASE("pre_tokenize: gpt2, llama3 and smollm splits") {
    std::string const text = "Hello world's  test 123abc!!  \n x";
    CHECK(split(text, PreTokenizer::kGpt2) ==
          Strings{"Hello", " world", "'s", " ", " test", " 123", "abc", "!!", "  \n", " x"});
    CHECK(split(text, PreTokenizer::kLlama3) ==
          Strings{"Hello", " world", "'s", " ", " test", " ", "123", "abc", "!!", "  \n", " x"});
    CHECK(split(text, PreTokenizer::kSmollm) == Strings{"Hello", " world", "'s", " ", " test", " ",
                                                        "1", "2", "3", "abc", "!!", "  \n", " x"});
    CHECK(split("HELLO'S", PreTokenizer::kGpt2) == Strings{"HELLO", "'", "S"});
    CHECK(split("HELLO'S", PreTokenizer::kLlama3) == Strings{"HELLO", "'S"});
    CHECK(split("12345", PreTokenizer::kLlama3) == Strings{"123", "45"});
    CHECK(split("a 2024 b", PreTokenizer::kSmollm) == Strings{"a", " ", "2", "0", "2", "4", " b"});
    CHECK(split("x\n\n  y", PreTokenizer::kLlama3) == Strings{"x", "\n\n", " ", " y"});
    CHECK(split("x\n\n  y", PreTokenizer::kGpt2) == Strings{"x", "\n\n ", " y"});
    CHECK(split("(hi)", PreTokenizer::kLlama3) == Strings{"(hi", ")"});
    CHECK(split("na\xC3\xAFve caf\xC3\xA9 \xE6\x9D\xB1\xE4\xBA\xAC \xD9\xA3\xD9\xA4",
                PreTokenizer::kGpt2) == Strings{"na\xC3\xAFve", " caf\xC3\xA9",
                                                " \xE6\x9D\xB1\xE4\xBA\xAC", " \xD9\xA3\xD9\xA4"});
    CHECK(split("   ", PreTokenizer::kGpt2) == Strings{"   "});
    CHECK(split("", PreTokenizer::kSmollm).empty());
    std::string const bad = "ab\xFF\xFE cd";
    std::string joined;
    for (auto const& s : split(bad, PreTokenizer::kLlama3)) joined += s;
    CHECK(joined == bad);
  }

  TEST_CASE("ByteBpe: merges by rank on a handmade vocabulary") {
    Tokenizer const t(byte_vocab(
        {"he", "ll", "hell", "hello", "\xC4\xA0w", "or", "\xC4\xA0wor", "ld", "\xC4\xA0world"},
        {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w", "o r", "\xC4\xA0w or", "l d",
         "\xC4\xA0wor ld"}));
    CHECK(t.encode("hello world", false) ==
          std::vector<int>{id_of(t, "hello"), id_of(t, "\xC4\xA0world")});
    // "hel": h e -> he; "he l" is not a merge.
    CHECK(t.encode("hel", false) == std::vector<int>{id_of(t, "he"), id_of(t, "l")});
    // "lll": the leftmost "l l" merges first.
    CHECK(t.encode("lll", false) == std::vector<int>{id_of(t, "ll"), id_of(t, "l")});
    CHECK(t.encode("\n", false) == std::vector<int>{id_of(t, "\xC4\x8A")});
    std::string bytes;
    for (int b = 0; b < 256; ++b) bytes += static_cast<char>(b);
    for (std::string const& s : {bytes, std::string("hello world\xFF\xFE \xF0\x9F\x98\x80!")}) {
      CHECK(t.decode(t.encode(s, false)) == s);
    }
    CHECK(t.encode("hi", true).front() == 0);
    CHECK(t.decode(t.encode("hi", true)) == "hi");  // control tokens decode to nothing
  }

  TEST_CASE("ByteBpe: SmolLM2-135M-Instruct vocabulary (default model)") {
    auto const path =
        std::filesystem::path(DFROT_SOURCE_DIR) / "data/models/SmolLM2-135M-Instruct.Q4_1.gguf";
    if (!std::filesystem::exists(path)) {
      MESSAGE("skipped: " << path.string() << " absent (run scripts/fetch_model.sh)");
      return;
    }
    // Only the vocabulary is needed: read it straight from the GGUF metadata.
    dfrot::io::GgufFile const f(path);
    auto const data = dfrot::io::tokenizer_from_gguf(f);
    REQUIRE(data.has_value());
    Tokenizer const t(*data);
    CHECK(t.n_vocab() == 49152);
    CHECK(t.bos_id() == 1);
    CHECK_FALSE(t.add_bos());
    // "Hello" and "Ġworld" are pieces reached by the merges: one id each.
    CHECK(t.encode("Hello world", false) ==
          std::vector<int>{id_of(t, "Hello"), id_of(t, "\xC4\xA0world")});
    // smollm pre-tokenizer: every digit alone, the space before them alone.
    CHECK(t.encode(" 2024", false) == std::vector<int>{id_of(t, "\xC4\xA0"), id_of(t, "2"),
                                                       id_of(t, "0"), id_of(t, "2"),
                                                       id_of(t, "4")});
    for (std::string const& s :
         {std::string("Hello world"), std::string("The year 2024 was great, wasn't it?  Yes!\n\n"),
          std::string("  leading spaces and trailing   "),
          std::string("caf\xC3\xA9 \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x98\x80"),
          std::string("<|im_start|>user\nhi<|im_end|>")}) {
      INFO(s);
      auto const ids = t.encode(s, true);
      CHECK(ids.front() == 1);
      CHECK(t.decode(ids) == s);
    }
    // Bytes 0xFE/0xFF never occur in UTF-8 and SmolLM2 has no piece for them: they become the
    // unknown token (<|endoftext|>, id 0), which decodes to nothing.
    CHECK(t.encode("\xFF", false) == std::vector<int>{0});
    CHECK(t.decode(t.encode("a\xFE\x80"
                            "b",
                            false)) ==
          "a\x80"
          "b");
  }

  TEST_CASE("ByteBpe: a 64 KB word merges in O(n log n) with the same result as pairwise merging") {
    // Quadratic merging took ~46 s for this word; the heap merge takes milliseconds.
    Tokenizer const t(byte_vocab({"aa", "aaaa", "ab"}, {"a a", "aa aa", "a b"}));
    std::string word(65536, 'a');
    std::vector<int> const ids = t.encode(word, false);
    REQUIRE(ids.size() == 65536 / 4);
    for (int id : ids) CHECK(id == id_of(t, "aaaa"));
    // Leftmost first on equal ranks: "aaa" is "aa" + "a"; "aab" is "aa" + "b" ("a b" ranks lower).
    CHECK(t.encode("aaa", false) == std::vector<int>{id_of(t, "aa"), id_of(t, "a")});
    CHECK(t.encode("aab", false) == std::vector<int>{id_of(t, "aa"), id_of(t, "b")});
    CHECK(t.encode("aaab", false) == std::vector<int>{id_of(t, "aa"), id_of(t, "ab")});
  }
}
