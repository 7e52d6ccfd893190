// SPDX-License-Identifier: Apache-2.0
// A handmade byte-level BPE vocabulary for tests: <|endoftext|>, the 256 GPT-2-alphabet byte
// pieces, then the given pieces and merges.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/tokenizer/unicode.hpp"

namespace dfrot::test {

// Byte-level vocabulary: the 256 single-byte pieces, then `extra` pieces; merges as given.
inline io::TokenizerData byte_vocab(std::vector<std::string> const& extra,
                         std::vector<std::string> const& merges, std::string const& pre = "gpt2") {
  io::TokenizerData d;
  d.kind = io::TokenizerData::Kind::kByteLevelBpe;
  d.tokens.push_back("<|endoftext|>");
  d.token_types.push_back(io::kTokenControl);
  for (std::uint32_t cp : tokenizer::byte_to_codepoint()) {
    std::string s;
    tokenizer::append_utf8(s, cp);
    d.tokens.push_back(s);
    d.token_types.push_back(io::kTokenNormal);
  }
  for (auto const& e : extra) {
    d.tokens.push_back(e);
    d.token_types.push_back(io::kTokenNormal);
  }
  d.merges = merges;
  d.pre = pre;
  d.bos_id = 0;
  d.eos_id = 0;
  d.add_bos = false;
  d.add_space_prefix = false;
  return d;
}

}  // namespace dfrot::test
