// SPDX-License-Identifier: Apache-2.0
// A tiny SentencePiece-style vocabulary for model-file tests (<unk>, <s>, </s>, then ▁t<i>).
#pragma once

#include <string>
#include <vector>

#include "dfrot/core/format.hpp"
#include "dfrot/io/llama_checkpoint.hpp"

namespace dfrot::test {

inline io::TokenizerData tiny_tokenizer(std::size_t vocab) {
  io::TokenizerData t;
  t.kind = io::TokenizerData::Kind::kSentencePieceBpe;
  for (std::size_t i = 0; i < vocab; ++i) {
    t.tokens.push_back(i < 3 ? std::vector<std::string>{"<unk>", "<s>", "</s>"}[i]
                             : str_cat("\xe2\x96\x81t", i));
    t.scores.push_back(-static_cast<float>(i));
    t.token_types.push_back(i < 3 ? (i == 0 ? io::kTokenUnknown : io::kTokenControl)
                                  : io::kTokenNormal);
  }
  t.unk_id = 0;
  t.bos_id = 1;
  t.eos_id = 2;
  t.pre = "default";
  return t;
}

}  // namespace dfrot::test
