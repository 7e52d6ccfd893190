// SPDX-License-Identifier: Apache-2.0
// The two tokenizers' encode on arbitrary bytes (invalid UTF-8 included): byte-level BPE must
// round-trip every input exactly; SentencePiece BPE with byte fallback must not crash or lose
// bytes of valid UTF-8.
#include <cstring>
#include <string>

#include "dfrot/tokenizer/tokenizer.hpp"
#include "dfrot/tokenizer/unicode.hpp"
#include "fuzz_util.hpp"

namespace {

dfrot::io::TokenizerData byte_level() {
  dfrot::io::TokenizerData d;
  d.kind = dfrot::io::TokenizerData::Kind::kByteLevelBpe;
  d.tokens.push_back("<|endoftext|>");
  d.token_types.push_back(dfrot::io::kTokenControl);
  for (std::uint32_t cp : dfrot::tokenizer::byte_to_codepoint()) {
    std::string s;
    dfrot::tokenizer::append_utf8(s, cp);
    d.tokens.push_back(s);
    d.token_types.push_back(dfrot::io::kTokenNormal);
  }
  for (char const* p : {"he", "ll", "hell", "hello", "\xC4\xA0t", "\xC4\xA0th", "aa", "aaaa"}) {
    d.tokens.push_back(p);
    d.token_types.push_back(dfrot::io::kTokenNormal);
  }
  d.merges = {"h e", "l l", "he ll", "hell o", "\xC4\xA0 t", "\xC4\xA0t h", "a a", "aa aa"};
  d.pre = "smollm";
  d.bos_id = d.eos_id = 0;
  d.add_bos = false;
  d.add_space_prefix = false;
  return d;
}

dfrot::io::TokenizerData sentencepiece() {
  dfrot::io::TokenizerData d;
  d.kind = dfrot::io::TokenizerData::Kind::kSentencePieceBpe;
  auto add = [&](std::string piece, float score, int type) {
    d.tokens.push_back(std::move(piece));
    d.scores.push_back(score);
    d.token_types.push_back(type);
  };
  add("<unk>", 0, dfrot::io::kTokenUnknown);
  add("<s>", 0, dfrot::io::kTokenControl);
  add("</s>", 0, dfrot::io::kTokenControl);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    add(name, 0, dfrot::io::kTokenByte);
  }
  float s = -1;
  for (char const* p : {"\xE2\x96\x81", "e", "t", "h", "\xE2\x96\x81t", "he", "\xE2\x96\x81th", "\xE2\x96\x81the"}) add(p, s--, dfrot::io::kTokenNormal);
  d.pre = "default";
  d.unk_id = 0;
  d.bos_id = 1;
  d.eos_id = 2;
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  static dfrot::tokenizer::Tokenizer const bpe(byte_level());
  static dfrot::tokenizer::Tokenizer const spm(sentencepiece());
  std::string const text(reinterpret_cast<char const*>(data), size);
  return dfrot::fuzz::expect_only_dfrot_errors([&] {
    if (bpe.decode(bpe.encode(text, false)) != text) {
      std::fprintf(stderr, "fuzz: byte-level BPE does not round-trip a %zu-byte input\n", size);
      std::abort();
    }
    (void)spm.decode(spm.encode(text, true));
  });
}
